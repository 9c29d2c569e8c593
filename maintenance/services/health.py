"""Health models: creating one, retraining, re-baselining after maintenance, the maintenance command (the fit itself:
services/fitting.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.utils import timezone

from audit.services.events import audit_record
from historian.models import Machine, Tag
from maintenance.health.errors import HealthModelError
from maintenance.models import HealthModel, HealthModelVersion
from maintenance.services.live import health_model_publish

User = AuthUser | AnonymousUser


def health_rebaseline(*, machine: Machine, at: datetime, user: User | None, reason: str = "maintenance") -> bool:
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
        model.current_version = None
        model.save(update_fields=["training_start", "training_end", "alerted_at", "current_version"])
        health_model_publish(machine_id=machine.pk)
        audit_record(
            actor=user,
            action="health_model_rebaseline",
            target=str(model),
            details={
                "machine": machine.name,
                "before": before,
                "after": {"training_start": at.isoformat()},
                "reason": reason,
            },
        )
    # The last life's failure prediction is void: "no estimate" until the new fit's scores show a trend.
    from maintenance.services.scoring import rul_no_estimate_write

    model = HealthModel.objects.select_related(
        "rul_median_tag__device", "rul_low_tag__device", "rul_high_tag__device"
    ).get(pk=model.pk)
    rul_no_estimate_write(model=model, at=at)
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


PERM_FIT = "maintenance.fit_health_model"


def health_model_create(
    *,
    machine: Machine,
    user: User | None = None,
    signals: list[Tag] | None = None,
    component: str = "spindle bearing",
    at: datetime | None = None,
    **settings: Any,
) -> HealthModel:
    """A machine's health model watching `signals` (default: its analog tags), trained from the normal running that
    follows `at` (default now), with its derived tags; audited. `settings`: other HealthModel fields."""
    from maintenance.services.health_tags import analog_signals, health_tags_ensure

    with transaction.atomic():
        model = HealthModel.objects.create(
            machine=machine, component=component, training_start=at or timezone.now(), **settings
        )
        chosen = signals if signals is not None else analog_signals(model=model)
        if not chosen:
            raise HealthModelError(f"{machine.name} has no analog tags to watch: pick the signals by hand")
        model.signals.set(chosen)
        health_tags_ensure(model=model)
        audit_record(
            actor=user,
            action="health_model_create",
            target=str(model),
            details={"machine": machine.name, "signals": sorted(t.name for t in chosen)},
        )
    return model


def health_model_retrain(
    *, model: HealthModel, user: User | None, start: datetime | None = None, end: datetime | None = None
) -> HealthModelVersion:
    """Retrain from the UI on [start, end] (or a proposed window); needs maintenance.fit_health_model."""
    from maintenance.services.fitting import health_model_fit

    if user is None or not user.is_authenticated or not user.has_perm(PERM_FIT):
        raise PermissionError("You may not retrain health models.")
    return health_model_fit(model=model, user=user, start=start, end=end, reason="retrained")
