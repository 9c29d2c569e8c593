"""What /healthz and /readyz check: each dependency answered within a short timeout, with what failed.

`/healthz` is liveness: the process answers (no database, no Redis: an orchestrator restarting web processes
because PostgreSQL is away would only make things worse). `/readyz` is readiness: the database, Redis, the channel
layer (a message sent to a channel of our own and received back) and at least one live acquisition worker (a
poller whose heartbeat has not lapsed, ingest.acquisition.leases). `READYZ_REQUIRE_ACQUISITION=false` leaves the
last one out of the verdict (still reported): for web processes that should keep serving history while the
acquisition workers are away.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from common.redis import redis_client
from ingest.acquisition.leases import pollers_alive

CHECK_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float
    required: bool = True


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: list[Check]

    def as_json(self) -> dict:
        return {"status": "ready" if self.ready else "not ready", "checks": {c.name: asdict(c) for c in self.checks}}


def _timed(name: str, probe: Callable[[], str], *, required: bool = True) -> Check:
    started = time.monotonic()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # a probe reports every failure; the verdict is the caller's
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    return Check(name, ok, detail, round(time.monotonic() - started, 4), required)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "answered"


def _redis() -> str:
    if not redis_client(socket_timeout=CHECK_TIMEOUT_SECONDS).ping():
        raise redis.RedisError("no PONG")
    return "answered"


async def _round_trip() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("readyz.")
    token = uuid.uuid4().hex
    await asyncio.wait_for(layer.send(channel, {"type": "readyz", "token": token}), CHECK_TIMEOUT_SECONDS)
    message = await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)
    if message.get("token") != token:
        raise RuntimeError("another message came back")
    return "a message went round"


def _channel_layer() -> str:
    return async_to_sync(_round_trip)()


def _acquisition() -> str:
    alive = pollers_alive(redis_client(socket_timeout=CHECK_TIMEOUT_SECONDS))
    if not alive:
        raise RuntimeError("no acquisition worker's heartbeat is alive")
    return f"{len(alive)} alive"


def readiness() -> Readiness:
    """Every check, and whether all the required ones passed."""
    checks = [
        _timed("database", _database),
        _timed("redis", _redis),
        _timed("channel_layer", _channel_layer),
        _timed("acquisition", _acquisition, required=settings.READYZ_REQUIRE_ACQUISITION),
    ]
    return Readiness(all(c.ok for c in checks if c.required), checks)
