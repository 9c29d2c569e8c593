"""Fitting a machine's health model: the training window (picked, or proposed from normal running), the training
rows read through historian.queries, the fit (maintenance.health.pca), a new version row, an audit event.

Training rows are the signals interpolated every `sample_seconds` over the window, kept only while the machine was
Running (production's state intervals, where the machine is configured and the model asks for it) and making the
model's product when it names one. A proposed window starts at the model's `training_start` (set when it is created
and when maintenance re-baselines it; else a day back) and ends once `auto_train_minutes` of such running are in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.services.events import audit_record
from historian.quality import quality_is_good
from historian.queries.errors import HistoryQueryError
from historian.queries.interpolated import interpolated_values
from maintenance.health.errors import HealthModelError
from maintenance.health.pca import PcaModel, pca_fit
from maintenance.models import HealthModel, HealthModelVersion
from maintenance.services.live import health_model_publish
from production.models import MachineProduction, MachineState, StateInterval

User = AuthUser | AnonymousUser

DEFAULT_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Stretches:
    """When training rows count: [start, end) stretches, and whether they come from production's states."""

    spans: list[tuple[datetime, datetime]]
    from_states: bool

    def total(self) -> timedelta:
        return sum((e - s for s, e in self.spans), timedelta(0))


def scored_states_configured(model: HealthModel) -> bool:
    """Whether the model's machine states decide when it is trained and scored."""
    return model.running_only and MachineProduction.objects.filter(machine_id=model.machine_id, enabled=True).exists()


def normal_running(*, model: HealthModel, start: datetime, end: datetime) -> Stretches:
    """The stretches of [start, end) the model trains on: Running (of its product), or all of it."""
    if not scored_states_configured(model):
        return Stretches([(start, end)], from_states=False)
    intervals = StateInterval.objects.filter(machine_id=model.machine_id, state=MachineState.RUNNING, start__lt=end)
    intervals = intervals.filter(Q(end__isnull=True) | Q(end__gt=start))
    if model.product_id is not None:
        intervals = intervals.filter(product_id=model.product_id)
    spans = [(max(s, start), min(e or end, end)) for s, e in intervals.order_by("start").values_list("start", "end")]
    return Stretches([(s, e) for s, e in spans if e > s], from_states=True)


def training_window_propose(*, model: HealthModel, now: datetime) -> tuple[datetime, datetime]:
    """From the model's training start, the first `auto_train_minutes` of normal running. HealthModelError when
    there is not that much yet."""
    start = model.training_start or now - DEFAULT_LOOKBACK
    need = timedelta(minutes=model.auto_train_minutes)
    running = normal_running(model=model, start=start, end=now)
    got = timedelta(0)
    for s, e in running.spans:
        if got + (e - s) >= need:
            return start, s + (need - got)
        got += e - s
    what = "normal running (state Running)" if running.from_states else "data"
    raise HealthModelError(
        f"too little training data for {model.machine.name}: {got.total_seconds() / 60:.1f} of "
        f"{need.total_seconds() / 60:.1f} minutes of {what} since {start:%Y-%m-%d %H:%M} UTC"
    )


def training_rows(
    *, model: HealthModel, start: datetime, end: datetime
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """(rows, signal names, name -> tag id): the signals every `sample_seconds` in [start, end] while the machine
    ran normally; a missing or bad value is NaN."""
    signals = list(model.signals.order_by("name"))
    if not signals:
        raise HealthModelError(f"the health model of {model.machine.name} has no signals: pick the machine's tags")
    names = [tag.name for tag in signals]
    try:
        series = interpolated_values(
            tag_ids=[t.pk for t in signals], start=start, end=end, interval=timedelta(seconds=model.sample_seconds)
        )
    except HistoryQueryError as exc:
        raise HealthModelError(f"the training window cannot be read: {exc}") from None
    spans = normal_running(model=model, start=start, end=end).spans
    times = [p.time for p in series[signals[0].pk]]
    keep = [any(s <= t < e for s, e in spans) for t in times]
    columns = []
    for tag in signals:
        points = series[tag.pk]
        columns.append(
            [
                p.value if p.value is not None and quality_is_good(p.quality) and math.isfinite(p.value) else math.nan
                for p in points
            ]
        )
    rows = np.asarray(columns, dtype=float).T if columns else np.empty((0, 0))
    rows = rows[np.asarray(keep, dtype=bool)] if len(keep) else rows
    return rows, names, {tag.name: tag.pk for tag in signals}


def health_model_fit(
    *,
    model: HealthModel,
    user: User | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> HealthModelVersion:
    """Fit on [start, end] (both, or neither: proposed), store the new version and make it current; audited.
    HealthModelError (a message for people) when it cannot be fitted: too little data, a flat signal, no signal."""
    now = now or timezone.now()
    if (start is None) != (end is None):
        raise HealthModelError("give both ends of the training window, or neither (proposed automatically)")
    if start is None or end is None:
        start, end = training_window_propose(model=model, now=now)
    if end <= start:
        raise HealthModelError("the training window must end after it starts")
    rows, names, tags = training_rows(model=model, start=start, end=end)
    if rows.shape[0] == 0:
        raise HealthModelError(
            f"too little training data for {model.machine.name}: no normal running between "
            f"{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        )
    fitted: PcaModel = pca_fit(rows, names, drop_nonfinite=True)
    with transaction.atomic():
        locked = HealthModel.objects.select_for_update().get(pk=model.pk)
        latest = locked.versions.aggregate(v=Max("version"))["v"] or 0
        version = HealthModelVersion.objects.create(
            health_model=locked,
            version=latest + 1,
            fitted_by=user if user is not None and user.is_authenticated else None,
            training_start=start,
            training_end=end,
            samples=fitted.n_train,
            signal_tags={name: tags[name] for name in fitted.signals},
            model=fitted.to_json(),
            reason=reason[:200],
        )
        locked.training_start, locked.training_end, locked.current_version = start, end, version
        locked.save(update_fields=["training_start", "training_end", "current_version"])
        health_model_publish(machine_id=locked.machine_id)
        audit_record(
            actor=user,
            action="health_model_fit",
            target=str(locked),
            details={
                "machine": locked.machine.name,
                "version": version.version,
                "training_start": start.isoformat(),
                "training_end": end.isoformat(),
                "samples": fitted.n_train,
                "signals": list(fitted.signals),
                "dropped": list(fitted.dropped),
                "reason": reason,
            },
            actor_username="" if user is not None and user.is_authenticated else "health monitor",
        )
    model.training_start, model.training_end, model.current_version = start, end, version
    return version
