"""The acquisition poller: one per Celery worker started with `--acquisition`; polls its devices on the wall clock.

Why not one Celery task per scan: measured with bench/acquisition.py, two broker hops per scan and device polls
queued behind each other's database writes put the p99 scan jitter near 500 ms, and task overhead plus per-poll
configuration queries cost more CPU than the reads. Celery supervises instead: the worker starts the poller
(ingest.acquisition.worker), stops it on shutdown, and a restarted worker starts a new one. The poller:

* shares the devices with the pollers of other workers through leases in Redis (ingest.acquisition.leases): each
  device is polled by one live worker. A heartbeat thread renews this poller's heartbeat several times within its
  life (INGEST_POLLER_HEARTBEAT_SECONDS) and watches the others': when one dies without stopping (kill -9), its
  devices are taken over within seconds, and a "no data: acquisition down" sample per tag marks the start of the
  gap. A poll starts only while this poller's own heartbeat is surely alive (it may have lapsed in a long pause,
  and another worker may hold the device since); the leases themselves (INGEST_POLLER_LEASE_SECONDS) are the
  fallback when heartbeats cannot be compared;
* ticks each (device, scan class) on the wall clock, at multiples of the scan period from the epoch: scans are
  evenly spaced, line up across devices and workers, and never drift. A tick that comes while the device's
  previous poll still runs is skipped and counted, never queued: a backlog is never worked off late;
* polls each device in a thread of its pool (INGEST_POLLER_THREADS), one poll at a time per device, so that a
  slow or unreachable device never delays another;
* re-reads its configuration within a second when a device, tag or scan class is saved or tags are imported (a
  version token: ingest.signals, ingest.acquisition.config_token), and when a digest of it moves (checked
  every INGEST_TAG_CONFIG_SECONDS); when PostgreSQL is away it polls from what it read last, and the values go
  to the store-and-forward buffer;
* when it lets a device go (lease lost, device disabled or deleted, shutdown) it stores the device's pending
  compression candidates first, so that every open segment ends at its real end point.

The poller owns what its polls remember (`self.polling`, ingest.acquisition.poll.Polling: the store's
IngestContext with its compression segments, caches and after-store hooks; the open drivers; source times; the
identify schedule): nothing of it is module-level, so two pollers in one process (tests) share nothing.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import queue
import socket
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import connections

from common.redis import redis_client
from historian.models import Device
from historian.queries.history import current_values
from ingest.acquisition.config_token import acquisition_config_version
from ingest.acquisition.leases import DeviceLeases, TakeOver
from ingest.acquisition.poll import (
    PollConfig,
    Polling,
    PollKey,
    config_poll,
    poll_configs_fingerprint,
    poll_configs_load,
    polled_assignments,
)
from ingest.acquisition.replay import BufferReplayer
from ingest.pipeline.store import (
    DATABASE_DOWN_ERRORS,
    compression_flush,
    database_connection_reset,
    device_acquisition_down_store,
)

logger = logging.getLogger(__name__)

#: How often housekeeping looks whether the configuration version token moved (one cache GET).
TOKEN_LOOK_SECONDS = 0.1
#: The tick loop looks for new ticks at least this often.
TICK_LOOK_SECONDS = 0.1
#: Housekeeping waits for a gap this long before the next tick, at most MAINTENANCE_DEFER_SECONDS.
MAINTENANCE_GAP_SECONDS = 0.2
MAINTENANCE_DEFER_SECONDS = 2.0
#: Published statistics outlive their poller by this long.
STATS_KEEP_SECONDS = 300
#: At most this long (and a quarter of the scan period) a store waits for the reads still running.
READ_PRIORITY_SECONDS = 0.1
#: The heartbeat is renewed this many times within its life: a late beat or two never lets it lapse.
BEATS_PER_HEARTBEAT = 6
#: A poll starts only while this share of the heartbeat's life is left: a poll started just before the heartbeat
#: lapses would still be reading when another worker takes the device over.
POLL_FENCE_SHARE = 1 / 3


def next_tick(now: float, period: float) -> float:
    """The first multiple of `period` (seconds since the epoch) after `now`."""
    return (math.floor(now / period) + 1) * period


def _percentiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "p50": round(ordered[(len(ordered) - 1) // 2], 2),
        "p99": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 2),
        "max": round(ordered[-1], 2),
    }


class OutOfService(Exception):
    """A device was taken out of service while it was being read: the read is dropped, not stored."""


class _ReadDone:
    """`after_read` of one job: its read is over; its store waits (a little) for the reads still running.

    Reads come first because their time is the sample time and the scan's jitter: all of a tick's devices are
    read at once, and a store (CPU-bound) running beside them would slow every read that is still waiting for
    responses.
    """

    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self.pending = True
        self.wait_limit = 0.0
        self.read_done_at = 0.0  # time.time() when the read finished (0: no read)

    def __call__(self, device: Device) -> None:
        self.read_done_at = time.time()
        self.done(wait=True)
        self.poller._in_service_check(device)

    def done(self, *, wait: bool) -> None:
        reads = self.poller._reads
        with reads:
            if self.pending:
                self.pending = False
                self.poller._reading -= 1
                reads.notify_all()
            if wait:
                reads.wait_for(lambda: self.poller._reading == 0, timeout=self.wait_limit)


@dataclass
class PollerStats:
    """What a poller publishes (Redis, STATS_KEY_PREFIX + owner): for people watching a plant's acquisition
    and for bench/acquisition.py. Durations are of the latest 1,000 polls."""

    polls: Counter = field(default_factory=Counter)  # by PollOutcome.status, plus "skipped" and "failed"
    jitter_ms: deque = field(default_factory=lambda: deque(maxlen=1000))  # poll start - scheduled tick
    read_ms: deque = field(default_factory=lambda: deque(maxlen=1000))  # first request to last response

    def summary(self) -> dict:
        return {
            "polls": dict(self.polls),
            "jitter_ms": _percentiles(list(self.jitter_ms)),
            "read_ms": _percentiles(list(self.read_ms)),
        }


STATS_KEY_PREFIX = "ingest:poller:stats:"


def poller_stats_read() -> dict[str, dict]:
    """The statistics every poller published in the last few minutes, by owner."""
    client = redis_client()
    keys = list(client.scan_iter(f"{STATS_KEY_PREFIX}*"))
    values = client.mget(keys) if keys else []
    return {
        key.decode().removeprefix(STATS_KEY_PREFIX): json.loads(value)
        for key, value in zip(keys, values, strict=True)
        if value is not None
    }


class Poller:
    def __init__(
        self,
        *,
        owner: str | None = None,
        threads: int | None = None,
        lease_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        config_seconds: float | None = None,
        poll: Callable[..., object] = config_poll,
        polling: Polling | None = None,
    ) -> None:
        """`poll(config, polling=..., after_read=...)` polls one device; `polling`: what the polls remember (a
        new Polling by default)."""
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.threads = threads or settings.INGEST_POLLER_THREADS
        self.lease_seconds = lease_seconds or settings.INGEST_POLLER_LEASE_SECONDS
        self.config_seconds = config_seconds or settings.INGEST_TAG_CONFIG_SECONDS
        self._poll = poll
        self.polling = polling or Polling()
        self.leases = DeviceLeases(
            redis_client(),
            owner=self.owner,
            ttl_seconds=self.lease_seconds,
            heartbeat_seconds=heartbeat_seconds or settings.INGEST_POLLER_HEARTBEAT_SECONDS,
        )
        self.stats = PollerStats()
        self.configs: dict[PollKey, PollConfig] = {}
        self._periods: dict[PollKey, float] = {}
        self._ticks: dict[PollKey, float] = {}
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._reads = threading.Condition(self._lock)
        self._reading = 0  # polls dispatched whose read has not finished
        self._jobs: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._pool: list[threading.Thread] = []
        self._loop: threading.Thread | None = None
        self._housekeeper: threading.Thread | None = None
        self._heart: threading.Thread | None = None
        # This host's store-and-forward buffer, replayed here when no poll drains it (ingest/acquisition/replay.py).
        self.replayer = BufferReplayer()
        # Polls start only before this time.monotonic() (the last successful beat's, less a margin), and not while
        # fenced: the heartbeat lapsed and the lease renewal that tells which devices are still this poller's has
        # not run yet.
        self._alive_until = 0.0
        self._fenced = False
        self._dead_seen: frozenset[str] = frozenset()
        self._version: str | None = None
        self._fingerprint: int | None = None
        self._next_lease_sync = 0.0
        self._next_token_look = 0.0
        self._next_config = 0.0

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        # Reads wait for the interpreter lock after every response; while other threads store (CPU-bound), the
        # default 5 ms switch interval would add up to 5 ms per request of a multi-request read.
        sys.setswitchinterval(settings.INGEST_POLLER_SWITCH_INTERVAL_MS / 1000)
        self._beat()  # alive before claiming anything
        self._pool = [threading.Thread(target=self._work, name=f"poller-{i}", daemon=True) for i in range(self.threads)]
        for thread in self._pool:
            thread.start()
        self._loop = threading.Thread(target=self._run, name="poller", daemon=True)
        self._loop.start()
        self._housekeeper = threading.Thread(target=self._housekeep, name="poller-housekeeping", daemon=True)
        self._housekeeper.start()
        self._heart = threading.Thread(target=self._heartbeat, name="poller-heartbeat", daemon=True)
        self._heart.start()
        self.replayer.start()
        logger.info("poller %s started with %d threads", self.owner, self.threads)

    def stop(self, timeout: float = 20.0) -> None:
        """Let running polls finish, store pending compression candidates, give the devices back."""
        self._stopping.set()
        self.replayer.stop()
        for thread in (self._loop, self._housekeeper, self._heart):
            if thread is not None:
                thread.join(timeout)
        for _ in self._pool:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._pool:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._let_go(set(self._device_ids()))
        self.stats_publish()
        try:
            self.leases.release_all()
        except redis.RedisError:
            logger.warning("could not release the device leases; they lapse in %.0f s", self.lease_seconds)
        connections.close_all()
        logger.info("poller %s stopped", self.owner)

    @property
    def devices(self) -> set[int]:
        return set(self._device_ids())

    def _device_ids(self) -> set[int]:
        return {device_id for device_id, _ in self.configs}

    # -- the loop --------------------------------------------------------------------------------------------

    def _run(self) -> None:
        """The ticks, in a thread that does nothing else: housekeeping never makes a tick late."""
        while not self._stopping.is_set():
            try:
                self._fire_due_ticks()
            except Exception:  # the loop must outlive any one failure; the next turn tries again
                logger.exception("poller loop error")
                self._stopping.wait(1.0)
            # New devices get their first tick from housekeeping: look again within TICK_LOOK_SECONDS.
            wake = min([*self._ticks.values(), time.time() + TICK_LOOK_SECONDS])
            self._stopping.wait(max(0.0, wake - time.time()))

    def _housekeep(self) -> None:
        """Configuration, leases and statistics, in the gaps between reads."""
        try:
            while not self._stopping.is_set():
                try:
                    moved_to = self._config_token_moved()
                    if moved_to is not None or self._quiet():
                        self._maintain(version=moved_to)
                except Exception:  # the next turn tries again
                    logger.exception("poller housekeeping error")
                    self._stopping.wait(1.0)
                self._stopping.wait(0.02)
        finally:
            connections.close_all()

    def _heartbeat(self) -> None:
        """Beat, in a thread of its own: neither polls nor housekeeping may delay it past the heartbeat's life."""
        interval = self.leases.heartbeat_seconds / BEATS_PER_HEARTBEAT
        while not self._stopping.wait(interval):
            self._beat()

    def _beat(self) -> None:
        sent = time.monotonic()
        try:
            beat = self.leases.beat()
        except redis.RedisError:
            # Redis is away for this poller; if it is for everyone, nobody can take a device over: poll on, as with
            # the leases (a partition that leaves others with Redis is the case heartbeats cannot settle).
            self._alive_until = math.inf
            return
        except Exception:
            logger.exception("poller heartbeat error")
            return
        if beat.lapsed:
            logger.warning("poller %s: its heartbeat lapsed; polls wait for the lease renewal", self.owner)
            self._fenced = True
            self._next_lease_sync = 0.0
        if beat.dead - self._dead_seen:  # a poller died: take its devices over now, not at the next renewal
            self._next_lease_sync = 0.0
        self._dead_seen = beat.dead
        self._alive_until = sent + self.leases.heartbeat_seconds * (1 - POLL_FENCE_SHARE)

    def _may_poll(self) -> bool:
        return not self._fenced and time.monotonic() < self._alive_until

    def _config_token_moved(self) -> str | None:
        """The new version token when the configuration changed (a device taken out of service, a tag saved in
        admin ...), which is applied at once, not in the next gap; looked at every TOKEN_LOOK_SECONDS. None when
        it did not move, or Redis is away (the periodic checks go on)."""
        now = time.time()
        if now < self._next_token_look:
            return None
        self._next_token_look = now + TOKEN_LOOK_SECONDS
        version = acquisition_config_version()
        return version if version is not None and version != self._version else None

    def _quiet(self) -> bool:
        """Whether housekeeping (queries, lease renewal: tens of ms of CPU with 10,000 tags) may run now without
        delaying reads: no poll running and no tick due within MAINTENANCE_GAP_SECONDS; never deferred for more
        than MAINTENANCE_DEFER_SECONDS, or a busy poller would lose its leases."""
        now = time.time()
        due = min(self._next_lease_sync, self._next_config)
        if now < due:
            return False
        if now - due > MAINTENANCE_DEFER_SECONDS:
            return True
        return not self._busy and min(self._ticks.values(), default=math.inf) - now > MAINTENANCE_GAP_SECONDS

    def _maintain(self, *, version: str | None = None) -> None:
        """`version`: the configuration token moved to it; it is taken as read once the configuration is."""
        now = time.time()
        reload = now >= self._next_config and self._fingerprint_changed()
        reload = version is not None or reload
        if reload or now >= self._next_lease_sync:
            self._refresh(reload_config=reload)
            self.stats_publish()
        if version is not None:
            self._version = version

    def _fingerprint_changed(self) -> bool:
        """The periodic check, for changes that set no version token (e.g. a queryset.update() in a script)."""
        self._next_config = time.time() + self.config_seconds
        try:
            fingerprint = poll_configs_fingerprint(self._device_ids())
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            return False
        changed, self._fingerprint = fingerprint != self._fingerprint, fingerprint
        return changed

    def _in_service_check(self, device: Device) -> None:
        """Before a poll stores: when the configuration moved since this poller read it, make sure the device was
        not taken out of service meanwhile (its out-of-service samples must stay the newest). One cache GET per
        poll; a query only after a change."""
        version = acquisition_config_version()
        if version is None or version == self._version:
            return
        try:
            in_service = Device.objects.filter(pk=device.pk, enabled=True).exists()
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            return
        if not in_service:
            raise OutOfService(device)

    def _refresh(self, *, reload_config: bool) -> None:
        """Re-read what is polled, renew and claim leases, load the configuration of what this poller holds."""
        now = time.time()
        self._next_lease_sync = now + self.lease_seconds / 3
        try:
            assignments = polled_assignments()
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            assignments = None  # keep polling what is held, from the configuration read last
        wanted = set(assignments) if assignments is not None else self._device_ids()
        sent = time.monotonic()
        try:
            held = self.leases.sync(wanted)
        except redis.RedisError:
            logger.warning("Redis unavailable: keeping the devices this poller holds", exc_info=True)
            held = self._device_ids() & wanted
        else:  # the renewal dropped what others took: what is held now is this poller's, and its heartbeat fresh
            self._alive_until = max(self._alive_until, sent + self.leases.heartbeat_seconds * (1 - POLL_FENCE_SHARE))
            self._fenced = False
        gone = self._device_ids() - held
        if gone:
            self._let_go(gone)
        if assignments is None:
            return
        keys = {(d, s) for d in held for s in assignments[d]}
        if not (reload_config or keys != set(self.configs)):
            return
        try:
            fresh = poll_configs_load(keys, known=self.configs)
            self._fingerprint = poll_configs_fingerprint(held)
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            return
        with self._lock:
            for key in set(self.configs) - keys:
                self._drop_key(key)
            for key, config in fresh.items():
                self.configs[key] = config
                period = config.scan_class.period_ms / 1000
                if self._periods.get(key) != period:
                    self._periods[key] = period
                    self._ticks[key] = next_tick(now, period)
        self._gaps_mark(self.leases.take_overs_pop())
        # The configuration (10,000 tags are a million objects) lives until the next reload: out of the garbage
        # collector's sight, so that its full collections do not stall a read for tens of milliseconds.
        gc.freeze()

    def _gaps_mark(self, take_overs: list[TakeOver]) -> None:
        """Devices taken over from a poller that died: one "no data: acquisition down" sample per tag at the start
        of the gap, after the last value the dead poller stored and no earlier than its last heartbeat."""
        for take_over in take_overs:
            tags = {
                tag_id: tag
                for (device_id, _), config in list(self.configs.items())
                if device_id == take_over.device_id
                for tag_id, tag in config.tags.items()
            }
            if not tags:
                continue
            try:
                stored = [v.time.timestamp() + 0.001 for v in current_values(tag_ids=list(tags)).values()]
                at = max([*stored, take_over.last_beat or 0.0]) or time.time()
                device_acquisition_down_store(
                    context=self.polling.ingest, tags=tags, at=datetime.fromtimestamp(at, tz=UTC)
                )
            except DATABASE_DOWN_ERRORS:
                database_connection_reset()
                logger.warning("could not mark the acquisition gap of device %s", take_over.device_id)
                continue
            logger.warning(
                "poller %s took device %s over from %s, which died; gap marked from %s",
                self.owner,
                take_over.device_id,
                take_over.dead_owner,
                datetime.fromtimestamp(at, tz=UTC).isoformat(),
            )

    def _let_go(self, device_ids: set[int]) -> None:
        """Stop polling these devices: wait for their running polls, store their pending candidates."""
        deadline = time.monotonic() + 10.0
        while device_ids & self._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            keys = [key for key in self.configs if key[0] in device_ids]
            configs = [self.configs[key] for key in keys]
            for key in keys:
                self._drop_key(key)
        for config in configs:
            try:
                compression_flush(context=self.polling.ingest, tags=config.tags)
            except Exception:
                logger.exception("could not store the pending values of %s", config.device)
        self.polling.drivers.close(device_ids)

    def _drop_key(self, key: PollKey) -> None:
        self.configs.pop(key, None)
        self._periods.pop(key, None)
        self._ticks.pop(key, None)

    def _fire_due_ticks(self) -> None:
        now = time.time()
        due: dict[int, list[tuple[PollKey, float]]] = {}
        may_poll = self._may_poll()
        with self._lock:
            for key, at in self._ticks.items():
                if at <= now:
                    due.setdefault(key[0], []).append((key, at))
                    self._ticks[key] = next_tick(now, self._periods[key])  # missed ticks are skipped
            for device_id, items in due.items():
                if not may_poll:
                    self.stats.polls["fenced"] += len(items)
                    continue
                if device_id in self._busy:
                    self.stats.polls["skipped"] += len(items)
                    logger.warning("poll of device %s still running at its next tick: tick skipped", device_id)
                    continue
                self._busy.add(device_id)
                self._reading += 1
                self._jobs.put((device_id, items))

    # -- the pool --------------------------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                device_id, items = job
                read = _ReadDone(self)
                try:
                    for key, at in items:
                        config = self.configs.get(key)
                        if config is None:
                            continue
                        started = time.time()
                        period = self._periods.get(key, math.inf)
                        if started - at > period:
                            self.stats.polls["skipped"] += 1  # waited a whole period for a thread
                            continue
                        read.wait_limit = min(READ_PRIORITY_SECONDS, period / 4)
                        outcome = self._poll(config, polling=self.polling, after_read=read)
                        self._record(getattr(outcome, "status", "stored"), started - at, read.read_done_at - started)
                except OutOfService:
                    self.stats.polls["out_of_service"] += 1
                except Exception:
                    self.stats.polls["failed"] += 1
                    logger.exception("poll of device %s failed", device_id)
                finally:
                    read.done(wait=False)
                    with self._lock:
                        self._busy.discard(device_id)
        finally:
            connections.close_all()

    def _record(self, status: str, jitter: float, read: float) -> None:
        self.stats.polls[status] += 1
        self.stats.jitter_ms.append(jitter * 1000)
        if read > 0:
            self.stats.read_ms.append(read * 1000)

    def stats_publish(self) -> None:
        summary = {**self.stats.summary(), "devices": len(self._device_ids()), "published": time.time()}
        try:
            redis_client().set(f"{STATS_KEY_PREFIX}{self.owner}", json.dumps(summary), ex=STATS_KEEP_SECONDS)
        except redis.RedisError:
            logger.warning("could not publish the poller's statistics")
