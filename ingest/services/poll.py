"""One poll: read a device's tags of one scan class, store what changed, tell the browsers.

Guarantees, in order of the checks below: a poll that waited longer than its period is dropped (a backlog is
never worked off late); a device in backoff after a failure is not touched until its retry time; two polls of
the same device never overlap (a Redis lock across all workers); a link failure stores one bad-quality sample
per tag of the device and schedules the retry; the worker itself never fails on a device problem.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import redis
from django.conf import settings
from django.utils import timezone

from historian.models import Device, DeviceStatus, ScanClass, Tag
from historian.quality import Quality
from historian.samples import SampleRow
from historian.services.live import live_samples_publish
from historian.services.samples import current_values_write, samples_write_batch
from ingest.drivers.base import DeviceUnreachable, PointRequest
from ingest.drivers.registry import driver_for

from .deadband import DeadbandFilter
from .device_status import device_record_failure, device_record_success

logger = logging.getLogger(__name__)

_deadband = DeadbandFilter()


@dataclass(frozen=True)
class PollOutcome:
    status: str  # stored | stale | busy | backoff | disabled | unreachable | no_tags
    stored: int = 0
    published: int = 0


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def scan_class_device_ids(*, scan_class_id: int) -> list[int]:
    """Enabled devices that have tags in the scan class."""
    return list(
        Device.objects.filter(enabled=True, tags__scan_class_id=scan_class_id).distinct().values_list("pk", flat=True)
    )


def device_poll(*, device_id: int, scan_class_id: int, scheduled_at: datetime | None = None) -> PollOutcome:
    now = timezone.now()
    scan_class = ScanClass.objects.get(pk=scan_class_id)
    period = timedelta(milliseconds=scan_class.period_ms)
    if scheduled_at is not None and now - scheduled_at > period:
        return PollOutcome("stale")
    device = Device.objects.get(pk=device_id)
    if not device.enabled:
        return PollOutcome("disabled")
    if device.next_retry_at is not None and device.next_retry_at > now:
        return PollOutcome("backoff")
    lock = _redis().lock(f"ingest:poll:device:{device_id}", timeout=max(1.0, 2 * period.total_seconds()))
    if not lock.acquire(blocking=False):
        return PollOutcome("busy")
    try:
        return _poll_locked(device, scan_class)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("poll of %s outlived its lock", device)


def _poll_locked(device: Device, scan_class: ScanClass) -> PollOutcome:
    tags = list(
        Tag.objects.filter(device=device, scan_class=scan_class).only(
            "pk", "machine_id", "address", "data_type", "scale", "offset", "deadband", "historize"
        )
    )
    if not tags:
        return PollOutcome("no_tags")
    points = [PointRequest(t.pk, t.address, t.data_type, t.scale, t.offset) for t in tags]
    driver = driver_for(device)
    try:
        readings = driver.read(points)
    except DeviceUnreachable as exc:
        return _record_unreachable(device, str(exc) or type(exc).__name__)
    read_at = timezone.now()

    by_id = {t.pk: t for t in tags}
    history: list[SampleRow] = []
    current: list[SampleRow] = []
    for reading in readings:
        tag = by_id[reading.tag_id]
        row = SampleRow(read_at, tag.pk, reading.value, reading.quality)
        if not _deadband.admit(tag_id=tag.pk, value=reading.value, quality=reading.quality, deadband=tag.deadband):
            continue
        (history if tag.historize else current).append(row)
    stored = samples_write_batch(rows=history)
    current_values_write(rows=current)
    device_record_success(device=device, read_at=read_at)
    published = _publish(history + current, by_id)
    return PollOutcome("stored", stored=stored, published=published)


def _record_unreachable(device: Device, error: str) -> PollOutcome:
    """Store bad quality for every tag of the device once, when the link goes down, then back off."""
    failed_at = timezone.now()
    published = 0
    if device.status != DeviceStatus.ERROR:
        logger.warning("device %s unreachable: %s", device, error)
        tags = list(Tag.objects.filter(device=device).only("pk", "machine_id", "historize"))
        rows = [SampleRow(failed_at, t.pk, None, Quality.BAD_COMM_FAILURE) for t in tags]
        samples_write_batch(rows=[r for r, t in zip(rows, tags, strict=True) if t.historize])
        current_values_write(rows=[r for r, t in zip(rows, tags, strict=True) if not t.historize])
        for t in tags:
            _deadband.forget(t.pk)
        published = _publish(rows, {t.pk: t for t in tags})
    device_record_failure(device=device, error=error, failed_at=failed_at)
    return PollOutcome("unreachable", published=published)


def _publish(rows: list[SampleRow], tags: dict[int, Tag]) -> int:
    by_machine: dict[int, list[SampleRow]] = defaultdict(list)
    for row in rows:
        by_machine[tags[row.tag_id].machine_id].append(row)
    try:
        return live_samples_publish(rows_by_machine=by_machine)
    except Exception:  # the values are stored; a live-push hiccup must not fail the poll
        logger.exception("live push failed")
        return 0
