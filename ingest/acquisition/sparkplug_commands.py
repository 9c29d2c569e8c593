"""Sparkplug B writes from any process: a request/reply channel in Redis to the `run_sparkplug` process that holds
the MQTT session of the device's broker (issue 14).

A Sparkplug command must be published on the host application's own MQTT session (it knows the edge node's birth:
aliases and datatypes), which lives in the `run_sparkplug` process (`SparkplugRunner.command`). The write service
runs in a web process, a Celery worker or a shell, so it asks through Redis:

* Each runner serving commands beats, for every broker it is connected to, its name into that broker's roll
  (a sorted set scored with the time its beat lapses). A requester that finds no live runner on the roll fails at
  once: nothing is queued, nothing sent.
* The request (device, point, value, the timeout and the instant after which it must not be sent) is pushed on the
  broker's queue (a list); one runner pops it (BLPOP: exactly one takes it), calls `SparkplugRunner.command` in a
  thread of a small pool and pushes the `WriteOutcome` onto the request's reply list, which expires.
* The requester waits for the reply up to the timeout plus a margin. Without one it takes its request back
  (LREM): when that removes it, no runner took it and nothing was sent; when it does not, a runner took it and
  then went silent (died, or Redis dropped), so the outcome is failed with `sent=True` ("may have been sent"),
  which is what the write policy's interval must assume.
* A runner that pops a request whose send-by instant has passed (it was queued while no one listened, or waited
  behind others) answers failed, nothing sent: a write is never sent late.

Why Redis lists rather than the channel layer: BLPOP gives "exactly one runner takes it" and LREM "taken back if no
one did" atomically, so "nothing was sent" is known, not guessed; the channel layer has neither.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

import redis
from django.db import close_old_connections

from common.redis import redis_client
from historian.models import Device
from ingest.protocols.base import PointRequest, WriteOutcome, WriteStatus, WriteValue
from ingest.protocols.sparkplug.session import BrokerSettings

logger = logging.getLogger(__name__)

QUEUE_PREFIX = "ingest:sparkplug:commands:"
ROLL_PREFIX = "ingest:sparkplug:hosts:"
REPLY_PREFIX = "ingest:sparkplug:reply:"
#: A runner's place on a broker's roll lapses this long after its last beat (it beats every third of it).
HOST_BEAT_SECONDS = 6.0
#: A request not taken by a runner within this long is never sent (it is answered failed, nothing sent).
PICKUP_SECONDS = 2.0
#: What the requester waits beyond the write's own timeout and the pickup for the answer to come back.
REPLY_MARGIN_SECONDS = 2.0
#: A reply nobody collects (the requester gave up) is gone after this long.
REPLY_KEEP_SECONDS = 60
#: Longest single blocking read: below the plain client's socket timeout (common/redis.py).
BLOCK_SECONDS = 1

Command = Callable[[Device, PointRequest, WriteValue, float], WriteOutcome]


def broker_key(settings: BrokerSettings) -> str:
    """The broker's name in the channel's keys (its password is no part of it)."""
    return f"{settings.host}:{settings.port}:{settings.username}"


def sparkplug_command_send(
    *, device: Device, point: PointRequest, value: WriteValue, timeout: float, client: redis.Redis | None = None
) -> WriteOutcome:
    """Write `value` to `point` of the Sparkplug `device` through the run_sparkplug process connected to its broker
    and return its outcome (confirmed / mismatched / failed, read-back). Never raises: no runner, Redis away and
    no answer are failed outcomes, with `sent` telling whether the command may have left."""
    started = time.monotonic()
    client = client or redis_client()

    def failed(error: str, *, sent: bool = False) -> WriteOutcome:
        return WriteOutcome(WriteStatus.FAILED, value, sent=sent, error=error, seconds=time.monotonic() - started)

    broker = broker_key(BrokerSettings(device.host, device.port, device.username, device.password))
    request_id = uuid.uuid4().hex
    request = json.dumps(
        {
            "id": request_id,
            "device": device.pk,
            "point": asdict(point),
            "value": value,
            "timeout": timeout,
            "send_by": time.time() + PICKUP_SECONDS,
        }
    )
    queue_key, reply_key = QUEUE_PREFIX + broker, REPLY_PREFIX + request_id
    try:
        if not client.zcount(ROLL_PREFIX + broker, time.time(), "+inf"):
            return failed(
                f"no Sparkplug host (manage.py run_sparkplug) is connected to the broker mqtt://{device.host}:"
                f"{device.port}: nothing was sent"
            )
        client.rpush(queue_key, request)
    except redis.RedisError as exc:
        return failed(f"Redis is unavailable, so the Sparkplug host cannot be asked: {exc}; nothing was sent")
    deadline = started + timeout + PICKUP_SECONDS + REPLY_MARGIN_SECONDS
    try:
        while (left := deadline - time.monotonic()) > 0:
            got = client.blpop([reply_key], timeout=max(0.01, min(left, BLOCK_SECONDS)))
            if got is not None:
                return _outcome(json.loads(got[1]), value)
        taken_back = client.lrem(queue_key, 1, request)
    except redis.RedisError as exc:
        return failed(
            f"Redis failed while waiting for the Sparkplug host: {exc}; the command may have been sent", sent=True
        )
    if taken_back:
        return failed("no Sparkplug host took the write in time: nothing was sent")
    return failed(
        f"the Sparkplug host took the write but did not answer within {deadline - started:g} s: "
        "the command may have been sent",
        sent=True,
    )


def _outcome(data: dict[str, Any], requested: WriteValue) -> WriteOutcome:
    return WriteOutcome(
        WriteStatus(data["status"]),
        requested,
        written=data.get("written"),
        read_back=data.get("read_back"),
        read_back_raw=data.get("read_back_raw"),
        sent=bool(data.get("sent")),
        error=str(data.get("error", "")),
        seconds=float(data.get("seconds", 0.0)),
    )


class SparkplugCommandServer:
    """In a run_sparkplug process: take the write requests of the brokers the runner is connected to, run each
    through `command` in a pool thread and answer it. `brokers()` gives the connected brokers' settings and
    `device(pk)` the device (None: unknown)."""

    def __init__(
        self,
        *,
        command: Command,
        brokers: Callable[[], list[BrokerSettings]],
        device: Callable[[int], Device | None],
        name: str | None = None,
        workers: int = 4,
        client: redis.Redis | None = None,
    ) -> None:
        self.command = command
        self.brokers = brokers
        self.device = device
        self.name = name or uuid.uuid4().hex
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sparkplug-command")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._served: list[str] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sparkplug-commands", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Leave the rolls (no new request comes to us), finish the commands in hand, and return."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)

    @property
    def serving(self) -> list[str]:
        """The brokers (`broker_key`) whose requests this server takes, as of its last beat."""
        return list(self._served)

    def _redis(self) -> redis.Redis:
        return self.client or redis_client()

    def _run(self) -> None:
        beat_at = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= beat_at:
                        self._beat()
                        beat_at = time.monotonic() + HOST_BEAT_SECONDS / 3
                    if not self._served:
                        self._stop.wait(0.2)
                        beat_at = 0.0  # a broker may be connected any moment: look again soon
                        continue
                    got = self._redis().blpop([QUEUE_PREFIX + b for b in self._served], timeout=BLOCK_SECONDS)
                except redis.RedisError as exc:
                    logger.warning("Sparkplug commands: Redis unavailable (%s); retrying", exc)
                    self._stop.wait(1.0)
                    continue
                if got is not None:
                    self._pool.submit(self._serve, got[1])
        finally:
            self._leave()

    def _beat(self) -> None:
        served = sorted({broker_key(s) for s in self.brokers()})
        client = self._redis()
        lapses = time.time() + HOST_BEAT_SECONDS
        pipe = client.pipeline()
        for key in set(self._served) - set(served):
            pipe.zrem(ROLL_PREFIX + key, self.name)
        for key in served:
            pipe.zadd(ROLL_PREFIX + key, {self.name: lapses})
            pipe.zremrangebyscore(ROLL_PREFIX + key, "-inf", time.time() - HOST_BEAT_SECONDS)
        pipe.execute()
        self._served = served

    def _leave(self) -> None:
        try:
            pipe = self._redis().pipeline()
            for key in self._served:
                pipe.zrem(ROLL_PREFIX + key, self.name)
            pipe.execute()
        except redis.RedisError:
            pass  # our place lapses by itself
        self._served = []

    def _serve(self, raw: bytes | str) -> None:
        try:
            request = json.loads(raw)
            request_id = str(request["id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("Sparkplug commands: a malformed request was dropped")
            return
        try:
            outcome = self._answer(request)
        except Exception as exc:  # never leave a requester waiting for nothing
            logger.exception("Sparkplug commands: request %s failed", request_id)
            outcome = WriteOutcome(WriteStatus.FAILED, request.get("value"), sent=True, error=f"host error: {exc}")
        finally:
            close_old_connections()
        reply = {**asdict(outcome), "status": outcome.status.value}
        try:
            pipe = self._redis().pipeline()
            pipe.rpush(REPLY_PREFIX + request_id, json.dumps(reply, default=str))
            pipe.expire(REPLY_PREFIX + request_id, REPLY_KEEP_SECONDS)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("Sparkplug commands: the answer to %s was lost: %s", request_id, exc)

    def _answer(self, request: dict[str, Any]) -> WriteOutcome:
        value = request["value"]
        if time.time() > float(request["send_by"]):
            return WriteOutcome(
                WriteStatus.FAILED, value, error="the write waited too long for a Sparkplug host: nothing was sent"
            )
        device = self.device(int(request["device"]))
        if device is None:
            return WriteOutcome(WriteStatus.FAILED, value, error=f"device {request['device']} is not known here")
        point = PointRequest(**request["point"])
        return self.command(device, point, value, float(request["timeout"]))
