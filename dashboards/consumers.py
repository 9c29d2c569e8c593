"""The live WebSocket: a signed-in user with the plant view permission subscribes to machines and receives the
values stored for them, one message per machine per stored batch (polled or pushed by a subscription).

Client -> server: {"action": "subscribe", "machines": [1, 2]} or {"action": "unsubscribe", "machines": [1]}.
Server -> client: {"type": "samples", "machine": 1, "samples": [[tag_id, epoch_ms, value, quality], ...]},
{"type": "subscribed", "machines": [...]} after either action, {"type": "error", "message": "..."}, and to every
connection {"type": "device", "device": {"id", "name", "status", "retries", "last_error", "last_good_read",
"next_retry"}} when a device's link status changes, and about every 5 s while it stays connected
(ingest/pipeline/device_status.py), not on every poll.
Anything else gets an error message; the connection stays open and nothing else changes. A connection without a
signed-in user is closed with 4401, one without the permission with 4403.
"""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from common.websocket_messages import ClientMessageError, client_message_parse, is_id_list
from historian.queries.plant import existing_machine_ids
from historian.services.live import DEVICES_LIVE_GROUP, machine_live_group

MAX_MESSAGE_BYTES = 4096
MAX_SUBSCRIPTIONS = 200
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
VIEW_PLANT = "historian.view_plant"


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(user.has_perm)(VIEW_PLANT):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.subscriptions: set[int] = set()
        await self.accept()
        await self.channel_layer.group_add(DEVICES_LIVE_GROUP, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "subscriptions"):
            await self.channel_layer.group_discard(DEVICES_LIVE_GROUP, self.channel_name)
        for machine_id in getattr(self, "subscriptions", set()):
            await self.channel_layer.group_discard(machine_live_group(machine_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = client_message_parse(
                text_data, max_bytes=MAX_MESSAGE_BYTES, example='{"action": "subscribe", "machines": [1]}'
            )
        except ClientMessageError as exc:
            await self._error(str(exc))
            return
        action = message.get("action")
        machines = message.get("machines")
        if action not in ("subscribe", "unsubscribe"):
            await self._error("Unknown action; use 'subscribe' or 'unsubscribe'.")
            return
        if not is_id_list(machines):
            await self._error("'machines' must be a non-empty list of machine ids.")
            return
        if action == "subscribe":
            await self._subscribe(set(machines))
        else:
            await self._unsubscribe(set(machines))

    async def _subscribe(self, requested: set[int]) -> None:
        if len(self.subscriptions | requested) > MAX_SUBSCRIPTIONS:
            await self._error(f"At most {MAX_SUBSCRIPTIONS} machines per connection.")
            return
        known = await database_sync_to_async(existing_machine_ids)(ids=requested)
        unknown = sorted(requested - known)
        for machine_id in known - self.subscriptions:
            await self.channel_layer.group_add(machine_live_group(machine_id), self.channel_name)
        self.subscriptions |= known
        await self.send(text_data=json.dumps({"type": "subscribed", "machines": sorted(self.subscriptions)}))
        if unknown:
            await self._error(f"Unknown machines: {unknown}")

    async def _unsubscribe(self, machines: set[int]) -> None:
        for machine_id in machines & self.subscriptions:
            await self.channel_layer.group_discard(machine_live_group(machine_id), self.channel_name)
        self.subscriptions -= machines
        await self.send(text_data=json.dumps({"type": "subscribed", "machines": sorted(self.subscriptions)}))

    async def samples_batch(self, event: dict) -> None:
        await self.send(
            text_data=json.dumps({"type": "samples", "machine": event["machine"], "samples": event["samples"]})
        )

    async def device_status(self, event: dict) -> None:
        await self.send(text_data=json.dumps({"type": "device", "device": event["device"]}))

    async def _error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "message": text}))
