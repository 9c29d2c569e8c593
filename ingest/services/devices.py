"""Taking a device out of service and putting it back: what the pages, the history and the audit trail say.

A disabled device is not polled nor subscribed to. Left at that, its tags would keep showing their last good
value, which lies to the operator; so taking it out of service stores one "bad: out of service" sample per tag
(the current value too, pushed live), sets its status to "disabled" and records who did it. Putting it back sets
the status to "unknown" (not polled yet); the first poll or subscription value is stored because its quality
differs from the out-of-service one (ingest.pipeline.compression stores every change of quality).

The acquisition processes (the pollers, run_subscriptions, run_sparkplug) re-read their configuration at once
after either change: the acquisition configuration's version token changes (ingest.acquisition.config_token).
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Device, DeviceStatus, Tag
from ingest.acquisition.config_token import acquisition_config_invalidate
from ingest.pipeline.context import IngestContext
from ingest.pipeline.device_status import device_status_push
from ingest.pipeline.store import StoreOutcome, device_out_of_service_store


def device_enabled_set(
    *,
    device: Device,
    enabled: bool,
    user: User | AnonymousUser | None,
    remote_addr: str | None = None,
    at: datetime | None = None,
    context: IngestContext | None = None,
) -> StoreOutcome | None:
    """Put `device` in service (`enabled`) or take it out; None when it already was, else what was stored.

    `device` is updated in memory too. `context`: the writer whose pending compression candidates go before the
    out-of-service samples, when the caller is one (in a web request there is none: a new context, with nothing
    pending; the acquisition process flushes its own when it lets the device go).
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
            outcome = device_out_of_service_store(context=context or IngestContext(), tags=tags, at=at)
        audit_record(
            actor=user,
            action=AuditAction.DEVICE_IN_SERVICE if enabled else AuditAction.DEVICE_OUT_OF_SERVICE,
            target=device.name,
            details={"device": device.pk, "protocol": device.protocol},
            remote_addr=remote_addr,
        )
        transaction.on_commit(acquisition_config_invalidate)
    device_status_push(device=device)
    return outcome
