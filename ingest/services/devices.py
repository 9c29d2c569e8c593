"""Taking a device out of service and putting it back: what the pages, the history and the audit trail say.

A disabled device is not polled nor subscribed to. Left at that, its tags would keep showing their last good
value, which lies to the operator; so taking it out of service stores one "bad: out of service" sample per tag
(the current value too, pushed live), sets its status to "disabled" and records who did it. Putting it back sets
the status to "unknown" (not polled yet); the first poll or subscription value is stored because its quality
differs from the out-of-service one (ingest.services.compression stores every change of quality).

The acquisition processes (run_subscriptions, run_sparkplug) re-read their configuration at once after either
change: `devices_version_touch` changes a token in the cache, which they look at on every step.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Device, DeviceStatus, Tag

from .device_status import device_status_push
from .store import StoreOutcome, device_out_of_service_store

DEVICES_VERSION_KEY = "ingest:devices:version"


def device_enabled_set(
    *,
    device: Device,
    enabled: bool,
    user: AbstractBaseUser | AnonymousUser | None,
    remote_addr: str | None = None,
    at: datetime | None = None,
) -> StoreOutcome | None:
    """Put `device` in service (`enabled`) or take it out; None when it already was, else what was stored.

    `device` is updated in memory too.
    """
    at = at or timezone.now()
    with transaction.atomic():
        current = Device.objects.select_for_update().filter(pk=device.pk).values_list("enabled", flat=True).first()
        if current is None:
            raise Device.DoesNotExist(f"device {device.pk} is gone")
        if current == enabled:
            device.enabled = enabled
            return None
        changes = {
            "enabled": enabled,
            "status": DeviceStatus.UNKNOWN if enabled else DeviceStatus.DISABLED,
            "status_changed_at": at,
            "consecutive_failures": 0,
            "next_retry_at": None,
            "last_error": "",
        }
        Device.objects.filter(pk=device.pk).update(**changes)
        for field, value in changes.items():
            setattr(device, field, value)
        outcome = StoreOutcome()
        if not enabled:
            tags = {t.pk: t for t in Tag.objects.filter(device_id=device.pk).order_by("pk")}
            outcome = device_out_of_service_store(tags=tags, at=at)
        audit_record(
            actor=user,
            action=AuditAction.DEVICE_IN_SERVICE if enabled else AuditAction.DEVICE_OUT_OF_SERVICE,
            target=device.name,
            details={"device": device.pk, "protocol": device.protocol},
            remote_addr=remote_addr,
        )
        transaction.on_commit(devices_version_touch)
    device_status_push(device=device)
    return outcome


def devices_version_touch() -> None:
    """Tell the acquisition processes that devices changed (they re-read them at their next step)."""
    cache.set(DEVICES_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def devices_version() -> str | None:
    """The current token; it changes whenever devices_version_touch runs (None: never, or the cache is away)."""
    try:
        return cache.get(DEVICES_VERSION_KEY)
    except Exception:  # the cache (Redis) is down: the periodic reload still applies changes
        return None
