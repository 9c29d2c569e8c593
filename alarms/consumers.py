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
refused as "no such alarm". The snapshot's rows and the counts are read once per web process for every socket of
the same kind (with or without security alarms), not once per socket (`_AlarmViews`). Signed-out browsers (expired
session included) are accepted then closed with 4401, users without alarms.view_alarm with 4403; signing out
closes the session's open sockets with 4401.
Hostile or malformed input gets an error message; the connection stays open and nothing changes.
"""

import asyncio
import json
import time
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
    PERM_VIEW_SECURITY,
    ActionResult,
    AlarmActionError,
    alarms_acknowledge,
    alarms_shelve,
    alarms_unshelve,
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


#: The longest a process serves the same rows and counts without hearing of a change: a safety net for a change
#: message lost (Redis restarted, group membership expired) and for what changes with time alone (a shelve ends).
VIEWS_MAX_AGE_SECONDS = 5.0


def _snapshot_body(security: bool) -> str:
    """The snapshot's rows and counts, encoded: the part every socket of the same kind shares."""
    rows, counts = alarm_rows(security=security), alarm_counts(security=security)
    return f'"alarms": {json.dumps(rows)}, "counts": {json.dumps(counts)}'


def _counts_body(security: bool) -> str:
    return json.dumps(alarm_counts(security=security))


class _AlarmViews:
    """The alarm snapshot and counts of one kind (security alarms in or out) in one web process, read once for
    every socket that asks, instead of once per socket.

    Why (issue 17, bench/live.py): at 200 sockets the per-socket snapshot and counts were half of the web process's
    CPU, and at a connect burst each one queued behind the others in Channels' one database thread. Here the
    process listens to its kind's alarm group itself (common/fanout.py): a change message drops what is kept,
    before any socket of the process receives that message, so a page that saw a change and asks again reads it.
    Askers arriving while a read runs wait for that read. The kinds never mix: a socket without
    alarms.view_security_alarms is only ever given the `security=False` reads."""

    def __init__(self, security: bool) -> None:
        self.security = security
        self.sockets: set[Any] = set()
        self.reads = 0  # database reads made (what the sharing saves is visible in tests and benchmarks)
        self._generation = 0
        self._kept: dict[Callable[[bool], str], tuple[float, str]] = {}
        self._reading: dict[Callable[[bool], str], asyncio.Future[str]] = {}

    def fanout_deliver(self, frame: str) -> None:
        """An alarm of this kind changed (or someone acted on one here)."""
        self.invalidate()

    def invalidate(self) -> None:
        self._generation += 1
        self._kept.clear()
        self._reading.clear()  # a read started before the change is not handed to later askers

    async def body(self, read: Callable[[bool], str]) -> str:
        kept = self._kept.get(read)
        if kept is not None and time.monotonic() - kept[0] < VIEWS_MAX_AGE_SECONDS:
            return kept[1]
        reading = self._reading.get(read)
        if reading is None:
            reading = self._reading[read] = asyncio.ensure_future(self._read(read))
            reading.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved if unawaited
        return await asyncio.shield(reading)

    async def _read(self, read: Callable[[bool], str]) -> str:
        generation, started = self._generation, time.monotonic()
        try:
            self.reads += 1
            body = await database_sync_to_async(read)(self.security)
        finally:
            if self._generation == generation:
                self._reading.pop(read, None)
        if self._generation == generation:  # no change heard meanwhile
            self._kept[read] = (started, body)
        return body


_alarm_views: dict[asyncio.AbstractEventLoop, dict[bool, _AlarmViews]] = {}


def _views_of_loop() -> dict[bool, _AlarmViews]:
    loop = asyncio.get_running_loop()
    for old in [old for old in _alarm_views if old.is_closed()]:
        del _alarm_views[old]
    return _alarm_views.setdefault(loop, {})


def _changed_marker(event: dict) -> str | None:
    return "changed" if event.get("type") == ALARMS_MESSAGE_TYPE else None


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

        def session_may(self, permission: str) -> bool: ...

    ALARM_ACTIONS = frozenset({"snapshot", *_ACTIONS})
    alarms_security = False

    alarm_views: _AlarmViews | None = None

    async def alarms_join(self) -> None:
        self.alarms_security = security = self.session_may(PERM_VIEW_SECURITY)  # read at admission
        group = alarms_group(security=security)
        registry = _views_of_loop()
        views = registry.get(security)
        if views is None:
            views = registry[security] = _AlarmViews(security)
            # Joined before the socket: a change message reaches the views (dropping what they keep) first.
            await fanout().join(views, {group: _changed_marker})
        views.sockets.add(self)
        self.alarm_views = views
        # The process's one fan-out, not one group member per socket.
        await fanout().join(self, {group: alarms_frame})
        counts = await views.body(_counts_body)
        await self.send(text_data=f'{{"type": "counts", "counts": {counts}}}')

    async def alarms_leave(self) -> None:
        await fanout().leave(self, [alarms_group(security=self.alarms_security)])
        views, self.alarm_views = self.alarm_views, None
        if views is None:
            return
        views.sockets.discard(self)
        if not views.sockets and _views_of_loop().get(views.security) is views:
            del _views_of_loop()[views.security]
            await fanout().leave(views)

    async def alarms_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in ALARM_ACTIONS."""
        action = message.get("action")
        user = self.scope["user"]
        if action == "snapshot":
            views = self.alarm_views
            assert views is not None, "alarms_join first"
            can = {"acknowledge": self.session_may(PERM_ACKNOWLEDGE), "shelve": self.session_may(PERM_SHELVE)}
            body = await views.body(_snapshot_body)
            await self.send(text_data=f'{{"type": "snapshot", {body}, "can": {json.dumps(can)}}}')
            return
        ids = message.get("alarms")
        if not is_id_list(ids, max_items=MAX_ALARMS_PER_ACTION):
            await self.alarms_error(f"'alarms' must be a list of 1 to {MAX_ALARMS_PER_ACTION} alarm ids.")
            return
        try:
            reply = await database_sync_to_async(_act)(user, action, message)
            # What this process changed is read again at once, not after the change message comes back.
            for views in _views_of_loop().values():
                views.invalidate()
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
