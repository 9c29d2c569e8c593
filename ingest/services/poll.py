"""One poll: read a device's tags of one scan class, store what changed, tell the browsers.

Guarantees, in order of the checks below: a poll that waited longer than its period is dropped (a backlog is
never worked off late); a device in backoff after a failure is not touched until its retry time; two polls of
the same device never overlap (a Redis lock across all workers); a link failure stores one bad-quality sample
per tag of the device and schedules the retry; the worker itself never fails on a device problem.

While PostgreSQL is unreachable, polling goes on from the configuration this process read last (device, scan
class, tags) and the values go to the store-and-forward buffer (see ingest.services.store).
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import redis
from django.conf import settings
from django.utils import timezone

from historian.models import Device, Protocol, ScanClass, Tag
from historian.quality import quality_is_good
from ingest.drivers.base import DeviceUnreachable, PointRequest
from ingest.drivers.registry import driver_for

from .device_status import device_record_success
from .store import (
    DATABASE_DOWN_ERRORS,
    compression_flush,
    database_connection_reset,
    device_link_lost,
    readings_store,
)

logger = logging.getLogger(__name__)

_TAG_FIELDS = (
    "pk",
    "machine_id",
    "address",
    "data_type",
    "scale",
    "offset",
    "historize",
    "deadband",
    "deviation_unit",
    "compression_deviation",
    "max_store_interval_seconds",
    "stale_after_seconds",
    "interpolation",
    "value_labels",
    "span_low",
    "span_high",
)


@dataclass(frozen=True)
class PollOutcome:
    status: str  # stored | stale | busy | backoff | disabled | unreachable | no_tags | no_database
    stored: int = 0
    published: int = 0
    buffered: int = 0
    replayed: int = 0


@dataclass
class PollConfig:
    """What one poll needs from the database; kept per process for when the database is away."""

    scan_class: ScanClass
    device: Device
    tags: dict[int, Tag]
    points: list[PointRequest]
    tags_read_at: float = 0.0  # time.monotonic()


_configs: dict[tuple[int, int], PollConfig] = {}
_last_seq: dict[tuple[int, int], int] = {}


def _config_load(device_id: int, scan_class_id: int) -> PollConfig | None:
    """Fresh from the database, else what this process read last (None if it never read it).

    The scan class and the device (its status decides the backoff) are read every poll; the tags, whose
    loading costs most of a poll's CPU (measured: bench/acquisition.py), at most every
    INGEST_TAG_CONFIG_SECONDS, so a tag changed in admin is polled with its new settings within that time.
    """
    key = (device_id, scan_class_id)
    config = _configs.get(key)
    try:
        scan_class = ScanClass.objects.get(pk=scan_class_id)
        device = Device.objects.get(pk=device_id)
        if config is not None and time.monotonic() - config.tags_read_at < settings.INGEST_TAG_CONFIG_SECONDS:
            config.scan_class, config.device = scan_class, device
            return config
        tags = list(Tag.objects.filter(device=device, scan_class=scan_class).only(*_TAG_FIELDS))
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        if config is not None:
            logger.warning("database unavailable: polling %s from the last configuration read", config.device)
        return config
    points = [PointRequest(t.pk, t.address, t.data_type, t.scale, t.offset) for t in tags]
    if config is not None and config.points == points:
        points = config.points  # the same list: the driver's read plan stays cached
    config = PollConfig(
        scan_class=scan_class,
        device=device,
        tags={t.pk: t for t in tags},
        points=points,
        tags_read_at=time.monotonic(),
    )
    _configs[key] = config
    return config


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def scan_class_device_ids(*, scan_class_id: int) -> list[int]:
    """Enabled devices that have tags in the scan class (not those whose values OPC UA subscriptions or Sparkplug
    B edge nodes push)."""
    return list(
        Device.objects.filter(enabled=True, tags__scan_class_id=scan_class_id)
        .exclude(protocol=Protocol.OPCUA, use_subscriptions=True)
        .exclude(protocol=Protocol.SPARKPLUG)
        .distinct()
        .values_list("pk", flat=True)
    )


def device_poll(*, device_id: int, scan_class_id: int, scheduled_at: datetime | None = None) -> PollOutcome:
    now = timezone.now()
    config = _config_load(device_id, scan_class_id)
    if config is None:
        return PollOutcome("no_database")
    period = timedelta(milliseconds=config.scan_class.period_ms)
    if scheduled_at is not None and now - scheduled_at > period:
        return PollOutcome("stale")
    device = config.device
    if not device.enabled:
        return PollOutcome("disabled")
    if device.next_retry_at is not None and device.next_retry_at > now:
        return PollOutcome("backoff")
    lock = _redis().lock(f"ingest:poll:device:{device_id}", timeout=max(1.0, 2 * period.total_seconds()))
    if not lock.acquire(blocking=False):
        return PollOutcome("busy")
    try:
        _handover_check(config)
        return _poll_locked(config)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("poll of %s outlived its lock", device)


def _handover_check(config: PollConfig) -> None:
    """Close this process's open compression segments of the device when another process polled it since.

    A per-device counter in Redis, incremented under the poll lock, tells whether this process made the
    previous poll; if not, its memory of these tags is out of date (see ingest.services.compression).
    """
    key = (config.device.pk, config.scan_class.pk)
    seq = int(_redis().incr(f"ingest:poll:seq:{key[0]}:{key[1]}"))
    last, _last_seq[key] = _last_seq.get(key), seq
    if last is not None and last != seq - 1:
        compression_flush(tags=config.tags)


def _poll_locked(config: PollConfig) -> PollOutcome:
    device, tags = config.device, config.tags
    if not tags:
        return PollOutcome("no_tags")
    driver = driver_for(device)
    try:
        readings = driver.read_batch(config.points)
    except DeviceUnreachable as exc:
        lost = device_link_lost(
            device=device, tags=tags, error=str(exc) or type(exc).__name__, failed_at=timezone.now()
        )
        return PollOutcome("unreachable", stored=lost.stored, published=lost.published, buffered=lost.buffered)
    read_at = timezone.now()
    outcome = readings_store(device=device, tags=tags, readings=readings, read_at=read_at)
    reasons: list[str] = []
    if readings.reasons:
        not_good = set(readings.tag_ids[~quality_is_good(readings.qualities)].tolist())
        reasons = sorted({reason for tag_id, reason in readings.reasons.items() if tag_id in not_good})
    try:
        device_record_success(device=device, read_at=read_at, point_errors="; ".join(reasons))
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
    return PollOutcome(
        "stored",
        stored=outcome.stored,
        published=outcome.published,
        buffered=outcome.buffered,
        replayed=outcome.replayed,
    )
