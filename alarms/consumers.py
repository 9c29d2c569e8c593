"""The alarm WebSocket: every signed-in page listens (banner counts); the alarm list also works alarms through it.

Client -> server:
  {"action": "snapshot"}
  {"action": "acknowledge", "alarms": [ids], "comment": "..."}
  {"action": "shelve", "alarms": [ids], "minutes": 30, "comment": "..."}
  {"action": "unshelve", "alarms": [ids], "comment": "..."}
Server -> client:
  {"type": "counts", "counts": {...}} on connect
  {"type": "snapshot", "alarms": [...], "counts": {...}, "can": {"acknowledge": bool, "shelve": bool}}
  {"type": "alarms", "alarms": [...], "counts": {...}, "new": [ids]} whenever alarms change (to every browser)
  {"type": "done", "action": "...", "done": [ids], "refused": {id: reason}}
  {"type": "error", "message": "..."}
  (errors carry "stream": "alarms", so a page sharing one socket for live values and alarms can tell them apart)
Security alarms (rows, counts, actions) reach only users with alarms.view_security_alarms: they join the security
group (alarms.services.live) instead of the process one, and an action on a security alarm by anyone else is
refused as "no such alarm". Signed-out browsers (expired session included) are accepted then closed with 4401,
users without alarms.view_alarm with 4403; signing out closes the session's open sockets with 4401.
Hostile or malformed input gets an error message; the connection stays open and nothing changes.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.consumers import SessionConsumer
from accounts.services.sessions import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED  # noqa: F401 (re-exported)
from alarms.queries.alarm_list import alarm_counts, alarm_rows
from alarms.services.actions import (
    PERM_ACKNOWLEDGE,
    PERM_SHELVE,
    PERM_VIEW,
    ActionResult,
    AlarmActionError,
    alarms_acknowledge,
    alarms_shelve,
    alarms_unshelve,
    may_see_security,
)
from alarms.services.live import ALARMS_MESSAGE_TYPE, alarms_group
from common.fanout import fanout
from common.websocket_messages import ClientMessageError, client_message_parse, is_id_list

MAX_MESSAGE_BYTES = 16384
MAX_ALARMS_PER_ACTION = 500

_ACTIONS: dict[str, tuple[str, Callable[..., ActionResult]]] = {
    "acknowledge": (PERM_ACKNOWLEDGE, alarms_acknowledge),
    "shelve": (PERM_SHELVE, alarms_shelve),
    "unshelve": (PERM_SHELVE, alarms_unshelve),
}


def _snapshot(user) -> dict:
    security = may_see_security(user)
    return {
        "type": "snapshot",
        "alarms": alarm_rows(security=security),
        "counts": alarm_counts(security=security),
        "can": {"acknowledge": user.has_perm(PERM_ACKNOWLEDGE), "shelve": user.has_perm(PERM_SHELVE)},
    }


def _act(user, action: str, message: dict) -> dict:
    permission, service = _ACTIONS[action]
    if not user.has_perm(permission):
        raise PermissionDenied(f"You may not {action} alarms.")
    kwargs = {
        "alarm_ids": message["alarms"],
        "user": user,
        "comment": message.get("comment", ""),
        "now": timezone.now(),
    }
    if action == "shelve":
        kwargs["minutes"] = message.get("minutes")
    result = service(**kwargs)
    return {
        "type": "done",
        "action": action,
        "done": result.done,
        "refused": {str(k): v for k, v in result.refused.items()},
    }


def alarms_frame(event: dict) -> str | None:
    """The browser's frame for an alarms message; encoded once per message and process (common.fanout)."""
    if event.get("type") != ALARMS_MESSAGE_TYPE:
        return None
    return json.dumps({"type": "alarms", "alarms": event["alarms"], "counts": event["counts"], "new": event["new"]})


class AlarmStream:
    """The alarm half of a consumer, shared by /ws/alarms/ and the pages' one multiplexed socket (/ws/page/)."""

    # What the consumer it is mixed into (accounts.consumers.SessionConsumer) provides: declared, not defined.
    scope: dict[str, Any]
    channel_layer: Any
    channel_name: str
    if TYPE_CHECKING:

        async def send(
            self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool | int = False
        ) -> None: ...

        def fanout_deliver(self, frame: str) -> None: ...

    ALARM_ACTIONS = frozenset({"snapshot", *_ACTIONS})
    alarms_security = False

    async def alarms_join(self) -> None:
        self.alarms_security = await database_sync_to_async(may_see_security)(self.scope["user"])
        # The process's one fan-out, not one group member per socket.
        await fanout().join(self, {alarms_group(security=self.alarms_security): alarms_frame})
        counts = await database_sync_to_async(alarm_counts)(security=self.alarms_security)
        await self.send(text_data=json.dumps({"type": "counts", "counts": counts}))

    async def alarms_leave(self) -> None:
        await fanout().leave(self, [alarms_group(security=self.alarms_security)])

    async def alarms_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in ALARM_ACTIONS."""
        action = message.get("action")
        user = self.scope["user"]
        if action == "snapshot":
            await self.send(text_data=json.dumps(await database_sync_to_async(_snapshot)(user)))
            return
        ids = message.get("alarms")
        if not is_id_list(ids, max_items=MAX_ALARMS_PER_ACTION):
            await self.alarms_error(f"'alarms' must be a list of 1 to {MAX_ALARMS_PER_ACTION} alarm ids.")
            return
        try:
            reply = await database_sync_to_async(_act)(user, action, message)
        except PermissionDenied as exc:
            await self.alarms_error(str(exc))
            return
        except AlarmActionError as exc:
            await self.alarms_error(str(exc))
            return
        await self.send(text_data=json.dumps(reply))

    async def alarms_error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "stream": "alarms", "message": text}))


class AlarmConsumer(AlarmStream, SessionConsumer):
    joined = False

    async def connect(self) -> None:
        if await self.session_admit(PERM_VIEW) is None:
            return
        self.joined = True
        await self.alarms_join()

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.alarms_leave()
        await super().disconnect(code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = client_message_parse(text_data, max_bytes=MAX_MESSAGE_BYTES, example='{"action": "snapshot"}')
        except ClientMessageError as exc:
            await self.alarms_error(str(exc))
            return
        if message.get("action") not in self.ALARM_ACTIONS:
            await self.alarms_error("Unknown action; use snapshot, acknowledge, shelve or unshelve.")
            return
        await self.alarms_receive(message)
