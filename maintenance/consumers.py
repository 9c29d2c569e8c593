"""The health stream of the pages' one socket (/ws/page/, dashboards.consumers.PageConsumer): the plant health
overview and the machine health page, live.

Client -> server: {"action": "health_subscribe"}
Server -> client: {"type": "health_snapshot", "machines": [frame, ...]} (each machine's latest score and its model,
  maintenance.queries.health.plant_health), then {"type": "health", "machine": id, ...} frames as they happen
  (maintenance.services.live: a score, or the model and its open requests), for every machine: the page keeps its
  own. Needs historian.view_plant (the consumer checks it, as for live values).
The process joins the health group once for all its sockets (common/fanout.py); a frame is encoded once.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async

from common.fanout import fanout
from maintenance.queries.health import plant_health
from maintenance.services.live import HEALTH_GROUP, model_frame

HEALTH_ACTIONS = frozenset({"health_subscribe"})


def health_frame(message: dict[str, Any]) -> str | None:
    """The browser's frame of a health message (built by the publisher)."""
    frame = message.get("frame")
    return json.dumps(frame) if isinstance(frame, dict) else None


def health_snapshot() -> dict[str, Any]:
    machines = []
    for row in plant_health():
        frame = model_frame(model=row.model, open_requests=row.open_requests)
        frame |= {
            "score": row.score,
            "explanation": row.explanation,
            "rul": None
            if row.rul_median_h is None
            else {"median_h": row.rul_median_h, "low_h": row.rul_low_h, "high_h": row.rul_high_h},
        }
        machines.append(frame)
    return {"type": "health_snapshot", "machines": machines}


class HealthStream:
    """The health pages' half of a consumer (the consumer's fanout_deliver sends a frame to the browser)."""

    send: Any
    health_joined: bool = False

    async def health_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in HEALTH_ACTIONS (the user may view the plant)."""
        if not self.health_joined:
            # Registered before the snapshot is read: a score stored meanwhile comes after it, never lost.
            await fanout().join(self, {HEALTH_GROUP: health_frame})  # type: ignore[arg-type]
            self.health_joined = True
        snapshot = await database_sync_to_async(health_snapshot)()
        await self.send(text_data=json.dumps(snapshot))

    async def health_leave(self) -> None:
        if self.health_joined:
            await fanout().leave(self, [HEALTH_GROUP])  # type: ignore[arg-type]
            self.health_joined = False

    async def health_error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "stream": "health", "message": text}))
