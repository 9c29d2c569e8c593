"""Recording how a device's link is doing, and when to try it again after a failure."""

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F

from historian.models import Device, DeviceStatus

BACKOFF_BASE_SECONDS = 1.0


def reconnect_delay(failures: int, *, maximum: float | None = None) -> float:
    """Exponential backoff with jitter: 1, 2, 4 ... seconds up to `maximum`, each drawn from [d/2, d].

    The jitter keeps a plant's worth of devices from hammering a recovering gateway in lockstep.
    """
    ceiling = settings.INGEST_BACKOFF_MAX_SECONDS if maximum is None else maximum
    delay = min(ceiling, BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return random.uniform(delay / 2, delay)


def device_record_success(*, device: Device, read_at: datetime) -> None:
    changes: dict = {"last_good_read_at": read_at}
    if device.status != DeviceStatus.CONNECTED or device.consecutive_failures:
        changes |= {
            "status": DeviceStatus.CONNECTED,
            "consecutive_failures": 0,
            "next_retry_at": None,
            "last_error": "",
            "status_changed_at": read_at,
        }
    Device.objects.filter(pk=device.pk).update(**changes)


def device_record_failure(*, device: Device, error: str, failed_at: datetime) -> datetime:
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
    Device.objects.filter(pk=device.pk).update(**changes)
    return retry_at
