"""Reads for the health pages: each machine's score, RUL and open requests; one machine's trends and model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from historian.quality import quality_is_good
from historian.queries.errors import HistoryQueryError
from historian.queries.history import current_values
from historian.queries.plot import plot_values
from maintenance.health.errors import HealthModelError
from maintenance.health.explain import explain
from maintenance.health.pca import PcaModel
from maintenance.models import HealthModel
from maintenance.queries.requests import open_requests_by_machine

TREND_HOURS = 6
TREND_PIXELS = 600


@dataclass(frozen=True)
class MachineHealthRow:
    model: HealthModel
    score: float | None
    explanation: str
    rul_median_h: float | None
    rul_low_h: float | None
    rul_high_h: float | None
    open_requests: int


def _number(values: Any, tag_id: int | None) -> float | None:
    if tag_id is None:
        return None
    value = values.get(tag_id)
    if value is None or not quality_is_good(value.quality) or not isinstance(value.value, int | float):
        return None
    return float(value.value) if math.isfinite(value.value) else None


def _models(machine_ids: list[int] | None) -> list[HealthModel]:
    models = HealthModel.objects.select_related("machine__line__area", "current_version")
    if machine_ids is not None:
        models = models.filter(machine_id__in=machine_ids)
    return list(models.order_by("machine__line__name", "machine__name"))


def plant_health(*, machine_ids: list[int] | None = None) -> list[MachineHealthRow]:
    """Each machine with a health model (of `machine_ids`, default all): its latest score and explanation, RUL and
    open requests."""
    models = _models(machine_ids)
    tag_ids = [
        t
        for m in models
        for t in (m.score_tag_id, m.contribution_tag_id, m.rul_median_tag_id, m.rul_low_tag_id, m.rul_high_tag_id)
        if t is not None
    ]
    values = current_values(tag_ids=tag_ids) if tag_ids else {}
    open_counts = open_requests_by_machine()
    rows = []
    for m in models:
        text = values.get(m.contribution_tag_id) if m.contribution_tag_id is not None else None
        rows.append(
            MachineHealthRow(
                model=m,
                score=_number(values, m.score_tag_id),
                explanation=str(text.value) if text is not None and text.value is not None else "",
                rul_median_h=_number(values, m.rul_median_tag_id),
                rul_low_h=_number(values, m.rul_low_tag_id),
                rul_high_h=_number(values, m.rul_high_tag_id),
                open_requests=open_counts.get(m.machine_id, 0),
            )
        )
    return rows


def machine_health(*, model: HealthModel, now: datetime) -> dict[str, Any]:
    """The machine health page's data: trends of the score and the RUL band, the contributions now, the model."""
    start = now - timedelta(hours=TREND_HOURS)
    series: dict[str, list[list[Any]]] = {}
    tags = {
        "score": model.score_tag_id,
        "rul_median": model.rul_median_tag_id,
        "rul_low": model.rul_low_tag_id,
        "rul_high": model.rul_high_tag_id,
    }
    ids = [t for t in tags.values() if t is not None]
    plotted: dict[int, list[Any]] = {}
    try:
        if ids:
            plotted = plot_values(tag_ids=ids, start=start, end=now, pixels=TREND_PIXELS).series
    except HistoryQueryError:
        pass
    for name, tag_id in tags.items():
        points = plotted.get(tag_id, []) if tag_id is not None else []
        series[name] = [[p.time.isoformat(), p.value] for p in points if p.value is not None]
    return {
        "machine": model.machine_id,
        "series": series,
        "contributions": contributions_now(model=model),
        "score_high": model.score_high,
        "planning_horizon_hours": model.planning_horizon_hours,
    }


def contributions_now(*, model: HealthModel) -> list[dict[str, Any]]:
    """Each signal's deviation (σ) and share of the score from its current value; [] without a fit or values."""
    version = model.current_version
    if version is None:
        return []
    pca = PcaModel.from_json(version.model)
    tags = version.signal_tags
    values = current_values(tag_ids=[tags[s] for s in pca.signals])
    row = [_number(values, tags[s]) for s in pca.signals]
    if any(v is None for v in row):
        return []
    try:
        contributions = explain(pca, np.asarray(row, dtype=float))
    except HealthModelError:
        return []
    return [{"signal": c.signal, "sigma": round(c.sigma, 2), "share": round(c.share, 4)} for c in contributions]
