"""Health models: re-baselining after maintenance, the maintenance command, fits (services/fitting.py)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import transaction

from audit.services.events import audit_record
from historian.models import Machine
from maintenance.models import HealthModel

User = AuthUser | AnonymousUser


def health_rebaseline(*, machine: Machine, at: datetime, user: User | None) -> bool:
    """After maintenance the machine is a new machine: its model is fitted again from the normal running that
    follows `at` (the window is proposed automatically, as for a first fit) and it may alert again.
    False when the machine has no health model."""
    with transaction.atomic():
        model = HealthModel.objects.select_for_update().filter(machine=machine).first()
        if model is None:
            return False
        before = {"training_start": _iso(model.training_start), "training_end": _iso(model.training_end)}
        model.training_start = at
        model.training_end = None
        model.alerted_at = None
        model.save(update_fields=["training_start", "training_end", "alerted_at"])
        audit_record(
            actor=user,
            action="health_model_rebaseline",
            target=str(model),
            details={"machine": machine.name, "before": before, "after": {"training_start": at.isoformat()}},
        )
    return True


def maintenance_command_write(*, machine: Machine, user: User | None, remote_addr: str | None = None) -> str | None:
    """Write the model's maintenance command (e.g. the demo machines' "maintenance done", command 4) through the
    tag's write policy, as `user`; what happened, for people, or None when the model has no command."""
    from ingest.services.writes import tag_write_request

    model = HealthModel.objects.select_related("maintenance_command_tag").filter(machine=machine).first()
    if model is None or model.maintenance_command_tag is None or model.maintenance_command_value is None:
        return None
    result = tag_write_request(
        tag=model.maintenance_command_tag,
        value=model.maintenance_command_value,
        user=user,
        via="maintenance request",
        remote_addr=remote_addr,
    )
    return f"{result.state}: {result.message}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
