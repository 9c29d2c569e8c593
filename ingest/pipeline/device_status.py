"""Recording how a device's link is doing, and when to try it again after a failure; pushed live to the pages.

When each device's status was last pushed is the writer's (IngestContext.status_pushed_at)."""

from __future__ import annotations

import logging
import math
import random
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F, QuerySet

from historian.models import Device, DeviceStatus
from historian.services.live import live_device_status_publish

if TYPE_CHECKING:
    from ingest.pipeline.context import IngestContext

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
#: A connected device's status (its last good read) is pushed to the pages at least this often, and at once
#: when anything else changes; not on every poll of every device.
STATUS_PUSH_SECONDS = 5.0


def reconnect_delay(failures: int, *, maximum: float | None = None) -> float:
    """Exponential backoff with jitter: 1, 2, 4 ... seconds up to `maximum`, each drawn from [d/2, d].

    The jitter keeps a plant's worth of devices from hammering a recovering gateway in lockstep.
    """
    ceiling = settings.INGEST_BACKOFF_MAX_SECONDS if maximum is None else maximum
    delay = min(ceiling, BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return random.uniform(delay / 2, delay)


def device_record_success(*, context: IngestContext, device: Device, read_at: datetime, point_errors: str = "") -> None:
    """The link works. `point_errors` says why some tags read bad (exception responses ...), or is empty.

    `device` is updated in memory too (a poller may keep it while the database is away).
    """
    changes: dict = {"last_good_read_at": read_at}
    if device.status != DeviceStatus.CONNECTED or device.consecutive_failures:
        changes |= {
            "status": DeviceStatus.CONNECTED,
            "consecutive_failures": 0,
            "next_retry_at": None,
            "status_changed_at": read_at,
        }
    if device.last_error != point_errors[:1000]:
        changes["last_error"] = point_errors[:1000]
    for field, value in changes.items():
        setattr(device, field, value)
    # Only the time of the last good read moved: it is written (and pushed) every STATUS_PUSH_SECONDS, not on
    # every poll; the poller keeps the exact time in memory.
    pushed_at = context.status_pushed_at
    if len(changes) > 1 or time.monotonic() - pushed_at.get(device.pk, -math.inf) >= STATUS_PUSH_SECONDS:
        if not _enabled(device).update(**changes):
            return  # taken out of service meanwhile: its status stays "disabled"
        pushed_at[device.pk] = time.monotonic()
        _publish(device)


def device_record_failure(*, context: IngestContext, device: Device, error: str, failed_at: datetime) -> datetime:
    """Mark the device in error and schedule the next attempt; returns when that is."""
    failures = device.consecutive_failures + 1
    retry_at = failed_at + timedelta(seconds=reconnect_delay(failures))
    changes: dict = {
        "consecutive_failures": F("consecutive_failures") + 1,
        "last_error": error[:1000],
        "next_retry_at": retry_at,
    }
    if device.status != DeviceStatus.ERROR:
        changes |= {"status": DeviceStatus.ERROR, "status_changed_at": failed_at}
    if not _enabled(device).update(**changes):
        return retry_at  # taken out of service meanwhile: its status stays "disabled"
    context.status_pushed_at[device.pk] = time.monotonic()
    _publish(
        Device(
            pk=device.pk,
            name=device.name,
            status=DeviceStatus.ERROR,
            consecutive_failures=failures,
            last_error=error[:1000],
            last_good_read_at=device.last_good_read_at,
            next_retry_at=retry_at,
        )
    )
    return retry_at


def device_status_push(*, device: Device) -> None:
    """Push the device's status to the pages now (after a change made outside acquisition)."""
    _publish(device)


def _enabled(device: Device) -> QuerySet[Device]:
    """The device's row, unless it was taken out of service: a poll or a subscription that was under way then
    must not turn its status back to connected or error (ingest.services.devices)."""
    return Device.objects.filter(pk=device.pk, enabled=True)


def _publish(device: Device) -> None:
    try:
        live_device_status_publish(device=device)
    except Exception:  # the status is recorded; a live-push hiccup must not fail the poll
        logger.exception("device status push failed")
