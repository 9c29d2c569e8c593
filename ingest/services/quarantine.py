"""Quarantining a device: containment without pulling the plug.

A quarantined device is still read (operators keep their view of the process) but everything read from it is
marked "uncertain: quarantined" (ingest.pipeline.quarantine), every page that shows it says so, and Millwright
writes nothing to it. Quarantine and release name who and why, in the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Device
from ingest.acquisition.config_token import acquisition_config_invalidate
from ingest.pipeline.device_status import device_status_push

MAX_REASON_CHARS = 300


class QuarantineError(ValueError):
    """A quarantine request that cannot be carried out as asked (the message says why)."""


def device_quarantine_set(
    *,
    device: Device,
    quarantined: bool,
    reason: str = "",
    user: User | AnonymousUser | None,
    remote_addr: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Quarantine `device` (with a `reason`, required) or release it; False when it already was. Audited.

    `device` is updated in memory too. The acquisition processes pick the change up at once (the acquisition
    configuration's version token changes), so the next values read are marked, or no longer marked.
    """
    reason = " ".join(reason.split())
    if quarantined and not reason:
        raise QuarantineError("Say why the device is quarantined: the reason is shown on every page that shows it.")
    if len(reason) > MAX_REASON_CHARS:
        raise QuarantineError(f"The reason is {len(reason)} characters long; {MAX_REASON_CHARS} at most.")
    at = at or timezone.now()
    with transaction.atomic():
        current = Device.objects.select_for_update().filter(pk=device.pk).values_list("quarantined_at", flat=True)
        if not current.exists():
            raise Device.DoesNotExist(f"device {device.pk} is gone")
        if (current.first() is not None) == quarantined:
            return False
        changes = {"quarantined_at": at if quarantined else None, "quarantine_reason": reason if quarantined else ""}
        Device.objects.filter(pk=device.pk).update(**changes)
        previous_reason = device.quarantine_reason
        for field, value in changes.items():
            setattr(device, field, value)
        audit_record(
            actor=user,
            action=AuditAction.DEVICE_QUARANTINE if quarantined else AuditAction.DEVICE_RELEASE,
            target=device.name,
            details={"device": device.pk, "reason": reason or previous_reason},
            remote_addr=remote_addr,
        )
        transaction.on_commit(acquisition_config_invalidate)
    device_status_push(device=device)
    return True
