"""The plant-floor WebSockets.

/ws/page/ is the pages' one socket (static/js/lib/socket.js): live values for users who may view the plant, the
alarm banner and list for users who may view alarms, each stream checked on its own. /ws/live/ serves live
values alone, for other clients.

Live values, client -> server: {"action": "subscribe", "machines": [1, 2]} or {"action": "unsubscribe",
"machines": [1]}. Server -> client: {"type": "samples", "machine": 1, "samples": [[tag_id, epoch_ms, value,
quality], ...]}, {"type": "subscribed", "machines": [...]}, {"type": "error", "stream": "live", "message": "..."},
and to every connection {"type": "device", "device": {"id", "name", "status", "retries", "last_error",
"last_good_read", "next_retry"}} when a device's link status changes, and about every 5 s while it stays
connected (ingest/pipeline/device_status.py), not on every poll.
Alarms: the actions and messages of alarms/consumers.py. Downtime (a line's stops, for users who may view the
plant; classifying checked per area on each action), OEE (a line's current-shift OEE and loss Pareto, live) and the
overview cards' current-shift OEE and state since (live): production/consumers.py. The health pages' machines'
scores, RUL, models and open requests (live): maintenance/consumers.py.
Writes (for users who may operate the tag's area: every rule is ingest.services.writes', which audits every attempt,
refused ones included):
  {"action": "write", "tag": 12, "value": 1500}      ask to write (direct, armed or awaiting approval per policy)
  {"action": "write_confirm", "token": "..."}        confirm an armed write (its token came in the write's answer)
  {"action": "write_approve", "request": 40}         approve another person's two-person write
Server -> client: {"type": "write_result", "action", "tag", "state": "executed" | "armed" | "awaiting_approval",
"message", "request", "token" (armed: for write_confirm), "expires" (epoch ms), "outcome": {"status", "sent",
"read_back", "error"} | null}, or {"type": "error", "stream": "write", "action", "tag", "rule", "message"} when
refused (nothing written). Every state change of a write of a subscribed machine (armed, awaiting approval,
confirmed, mismatched, failed, refused, expired; whoever made it) comes as {"type": "write", "machine": 1, "write":
{...ingest.services.write_live.write_event}}.
Anything else gets an error message; the connection stays open and nothing else changes. Signed-out browsers
(expired session included) are accepted then closed with 4401, users with no right to any stream with 4403;
signing out closes the session's open sockets with 4401.
"""

import json
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from accounts.consumers import SessionConsumer
from accounts.services.sessions import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED  # noqa: F401 (re-exported)
from alarms.consumers import MAX_MESSAGE_BYTES as ALARM_MAX_MESSAGE_BYTES
from alarms.consumers import AlarmStream
from alarms.services.actions import PERM_VIEW as VIEW_ALARMS
from common.fanout import fanout
from common.websocket_messages import ClientMessageError, client_message_parse, is_id_list
from historian.queries.plant import existing_machine_ids
from historian.queries.writes import write_request_awaiting_approval
from historian.services.live import (
    DEVICE_STATUS_MESSAGE_TYPE,
    DEVICES_LIVE_GROUP,
    LIVE_MESSAGE_TYPE,
    machine_live_group,
)
from ingest.services.write_live import WRITE_MESSAGE_TYPE
from ingest.services.writes import (
    WriteResult,
    WriteState,
    tag_write_approve,
    tag_write_confirm,
    tag_write_request_by_id,
)
from maintenance.consumers import HEALTH_ACTIONS, HealthStream
from production.consumers import (
    DOWNTIME_ACTIONS,
    OEE_ACTIONS,
    OVERVIEW_ACTIONS,
    DowntimeStream,
    OeeStream,
    OverviewStream,
)

MAX_MESSAGE_BYTES = 4096
MAX_SUBSCRIPTIONS = 200
VIEW_PLANT = "historian.view_plant"
LIVE_ACTIONS = frozenset({"subscribe", "unsubscribe"})
WRITE_ACTIONS = frozenset({"write", "write_confirm", "write_approve"})


def live_frame(event: dict) -> str | None:
    """The browser's frame for a live message; encoded once per message and process (common.fanout)."""
    if event.get("type") == LIVE_MESSAGE_TYPE:
        return json.dumps({"type": "samples", "machine": event["machine"], "samples": event["samples"]})
    if event.get("type") == DEVICE_STATUS_MESSAGE_TYPE:
        return json.dumps({"type": "device", "device": event["device"]})
    if event.get("type") == WRITE_MESSAGE_TYPE:
        return json.dumps({"type": "write", "machine": event["machine"], "write": event["write"]})
    return None


def _write_act(user: Any, message: dict, remote_addr: str | None) -> WriteResult:
    """One write action through the write service (which checks and audits everything)."""
    action = message["action"]
    if action == "write":
        return tag_write_request_by_id(
            tag_id=message.get("tag"), value=message.get("value"), user=user, remote_addr=remote_addr
        )
    if action == "write_confirm":
        token = message.get("token")
        return tag_write_confirm(token=token if isinstance(token, str) else "", user=user, remote_addr=remote_addr)
    request_id = message.get("request")
    waiting = (
        write_request_awaiting_approval(request_id=request_id)
        if isinstance(request_id, int) and not isinstance(request_id, bool) and 0 < request_id < 2**63
        else None
    )
    return tag_write_approve(token=waiting.token if waiting else "", user=user, remote_addr=remote_addr)


def write_frame(action: str, tag: object, result: WriteResult) -> str:
    """The answer to the socket that asked: the result, or an error frame naming the rule that refused it."""
    tag_id = tag if isinstance(tag, int) and not isinstance(tag, bool) else None
    if result.state == WriteState.REFUSED:
        rule = result.rule.value if result.rule is not None else ""
        return json.dumps(
            {
                "type": "error",
                "stream": "write",
                "action": action,
                "tag": tag_id,
                "rule": rule,
                "message": result.message,
            }
        )
    return json.dumps(
        {
            "type": "write_result",
            "action": action,
            "tag": tag_id,
            "state": result.state.value,
            "message": result.message,
            "request": result.request_id,
            "token": result.token,
            "expires": round(result.expires_at.timestamp() * 1000) if result.expires_at else None,
            "outcome": result.outcome_summary(),
        }
    )


class LiveStream:
    """The live-values half of a consumer, shared by /ws/live/ and /ws/page/. Its groups are joined through the
    process's one fan-out (common/fanout.py), not per socket."""

    # What the consumer it is mixed into (accounts.consumers.SessionConsumer) provides: declared, not defined.
    channel_layer: Any
    channel_name: str
    if TYPE_CHECKING:

        async def send(
            self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool | int = False
        ) -> None: ...

        def fanout_deliver(self, frame: str) -> None: ...

    subscriptions: set[int] | None = None  # None until live_join: the user may not view the plant

    async def live_join(self) -> None:
        await fanout().join(self, {DEVICES_LIVE_GROUP: live_frame})
        self.subscriptions = set()

    async def live_leave(self) -> None:
        if self.subscriptions is None:
            return
        await fanout().leave(self, [DEVICES_LIVE_GROUP, *map(machine_live_group, self.subscriptions)])

    async def live_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in LIVE_ACTIONS."""
        machines = message.get("machines")
        if not is_id_list(machines):
            await self.live_error("'machines' must be a non-empty list of machine ids.")
            return
        if message["action"] == "subscribe":
            await self._subscribe(set(machines))
        else:
            await self._unsubscribe(set(machines))

    async def _subscribe(self, requested: set[int]) -> None:
        assert self.subscriptions is not None  # live_receive is called only after live_join
        if len(self.subscriptions | requested) > MAX_SUBSCRIPTIONS:
            await self.live_error(f"At most {MAX_SUBSCRIPTIONS} machines per connection.")
            return
        known = await database_sync_to_async(existing_machine_ids)(ids=requested)
        unknown = sorted(requested - known)
        # join() registers this socket in its last step: the "subscribed" reply is queued before any value of
        # these machines (the page's gap fill starts from it).
        await fanout().join(self, {machine_live_group(m): live_frame for m in known - self.subscriptions})
        self.subscriptions |= known
        await self.send(text_data=json.dumps({"type": "subscribed", "machines": sorted(self.subscriptions)}))
        if unknown:
            await self.live_error(f"Unknown machines: {unknown}")

    async def _unsubscribe(self, machines: set[int]) -> None:
        assert self.subscriptions is not None  # live_receive is called only after live_join
        await fanout().leave(self, [machine_live_group(m) for m in machines & self.subscriptions])
        self.subscriptions -= machines
        await self.send(text_data=json.dumps({"type": "subscribed", "machines": sorted(self.subscriptions)}))

    async def live_error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "stream": "live", "message": text}))


class LiveConsumer(LiveStream, SessionConsumer):
    async def connect(self) -> None:
        if await self.session_admit(VIEW_PLANT) is None:
            return
        await self.live_join()

    async def disconnect(self, code: int) -> None:
        await self.live_leave()
        await super().disconnect(code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = client_message_parse(
                text_data, max_bytes=MAX_MESSAGE_BYTES, example='{"action": "subscribe", "machines": [1]}'
            )
        except ClientMessageError as exc:
            await self.live_error(str(exc))
            return
        if message.get("action") not in LIVE_ACTIONS:
            await self.live_error("Unknown action; use 'subscribe' or 'unsubscribe'.")
            return
        await self.live_receive(message)


class PageConsumer(LiveStream, AlarmStream, DowntimeStream, OeeStream, OverviewStream, HealthStream, SessionConsumer):
    """One socket per page: a page showing live values and the alarm banner needs no second connection."""

    may_alarms = False

    async def connect(self) -> None:
        held = await self.session_admit(VIEW_PLANT, VIEW_ALARMS)
        if held is None:
            return
        if VIEW_PLANT in held:
            await self.live_join()
        if VIEW_ALARMS in held:
            self.may_alarms = True
            await self.alarms_join()

    async def disconnect(self, code: int) -> None:
        await self.live_leave()
        await self.oee_leave()
        await self.overview_leave()
        await self.health_leave()
        await self.downtime_leave()
        if self.may_alarms:
            await self.alarms_leave()
        await super().disconnect(code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = client_message_parse(
                text_data, max_bytes=ALARM_MAX_MESSAGE_BYTES, example='{"action": "subscribe", "machines": [1]}'
            )
        except ClientMessageError as exc:
            await self.send(text_data=json.dumps({"type": "error", "message": str(exc)}))
            return
        action = message.get("action")
        if action in LIVE_ACTIONS:
            if self.subscriptions is None:
                await self.live_error("You may not view the plant's live values.")
            else:
                await self.live_receive(message)
        elif action in self.ALARM_ACTIONS:
            if not self.may_alarms:
                await self.alarms_error("You may not view alarms.")
            else:
                await self.alarms_receive(message)
        elif action in DOWNTIME_ACTIONS:
            if self.subscriptions is None:  # joined live values: the user may view the plant
                await self.downtime_error("You may not view the plant's stops.")
            else:
                await self.downtime_receive(message)
        elif action in WRITE_ACTIONS:
            client = self.scope.get("client")
            result = await database_sync_to_async(_write_act)(
                self.scope["user"], message, client[0] if client else None
            )
            await self.send(text_data=write_frame(action, message.get("tag"), result))
        elif action in OEE_ACTIONS:
            if self.subscriptions is None:
                await self.oee_error("You may not view the plant's OEE.")
            else:
                await self.oee_receive(message)
        elif action in OVERVIEW_ACTIONS:
            if self.subscriptions is None:
                await self.overview_error("You may not view the plant's OEE.")
            else:
                await self.overview_receive(message)
        elif action in HEALTH_ACTIONS:
            if self.subscriptions is None:
                await self.health_error("You may not view the plant's health.")
            else:
                await self.health_receive(message)
        else:
            await self.send(
                text_data=json.dumps(
                    {
                        "type": "error",
                        "message": "Unknown action; use subscribe, unsubscribe, snapshot, "
                        "acknowledge, shelve, unshelve or downtime_subscribe, downtime_classify, "
                        "downtime_comment, downtime_split, oee_subscribe, pareto_subscribe, overview_subscribe, "
                        "health_subscribe, write, write_confirm or write_approve.",
                    }
                )
            )
