"""Scoring as values arrive: the after-store hook that turns a machine's signals into its derived health tags.

`HealthScoring` is the hook factory (the class; MaintenanceConfig.ready() registers it): each writer of values
(a poller, a push runner) makes its own. It is cheap on the ingest path: a batch only marks the machines whose
signals it holds; a marked machine is scored at most every MAINTENANCE_SCORE_SECONDS, from its signals' current
values (the newest rows this writer was handed; one query when another writer stores some of them), while it is
Running where production knows its states, and assessed by maintenance.health.alerting (sensor screen, score held
high, RUL from the scores since the fit). The score, its top contributions, the RUL and the alert flag of every
machine scored in one batch are written together (one store call) through the normal store
(ingest.pipeline.store.readings_store) by a writer of the hook's own, whose hooks are every other app's (alarms
evaluate the derived tags), never this one; the score with all its contributions is pushed to the health pages
(services/live.py). A model without a current fit (new, or re-baselined by maintenance: its RUL tags then hold
"no estimate", NO_ESTIMATE) is fitted on a proposed window as soon as there is enough normal running.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings

from historian.models import Device, Tag
from historian.quality import Quality, quality_is_good
from historian.queries.errors import HistoryQueryError
from historian.queries.history import current_values
from historian.queries.raw import raw_values
from historian.sample_types import SampleBatch, datetime_to_us
from ingest.pipeline.context import IngestContext
from ingest.pipeline.hooks import StoredRows, after_store_factories
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from maintenance.health.alerting import AlertPolicy, assess, sensor_screen
from maintenance.health.errors import HealthModelError
from maintenance.health.explain import explain, explanation_text
from maintenance.health.pca import PcaModel, pca_reconstruct
from maintenance.models import HealthModel, HealthModelVersion
from maintenance.services.alerts import alert_raise
from maintenance.services.fitting import health_model_fit, scored_states_configured
from maintenance.services.live import health_score_publish
from production.models import MachineState, StateInterval

logger = logging.getLogger(__name__)

CONFIG_SECONDS = 30.0  # the signals -> model map is read again this often
HISTORY_MAX = 5000  # scores kept per machine for the RUL
HISTORY_SPAN = timedelta(hours=12)  # scores read back from the historian for the RUL after a restart
TREND_POINTS = 30  # scores in a work request's evidence
STUCK_SAMPLES = 10  # readings in a row that repeat one value: a stuck sensor
SMOOTHING_MIN_H = 0.01  # the running median of the scores spans at least this (a window of 0 has no median)
# The RUL tags' "no estimate" (a new life after a re-baseline or a fit): no value, of a bad quality, so the pages and
# the explorer show no trend instead of the last life's failure prediction.
NO_ESTIMATE = Quality.BAD
NO_ESTIMATE_REASON = "no estimate"


@dataclass
class MachineHealth:
    """What a writer remembers of one model between scores."""

    version_id: int | None = None
    pca: PcaModel | None = None
    next_score: float = 0.0
    next_fit: float = 0.0
    # (hours, score, corroborated score) of the current life, for the alerting's hold and the RUL
    scores: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY_MAX))
    rows: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=STUCK_SAMPLES))  # the latest readings


class HealthScoring:
    """The after-store hook of one writer of values."""

    def __init__(self) -> None:
        self._signals: dict[int, int] = {}  # signal tag id -> model id
        self._signals_read = -math.inf
        self._signal_ids = np.empty(0, dtype=np.int64)
        self._machines: dict[int, MachineHealth] = {}
        self._writer: IngestContext | None = None
        # (device id, time) -> (device, tags, readings) of the derived tags written while a batch is scored (else None)
        self._pending: dict[tuple[int, datetime], tuple[Device, dict[int, Tag], list[PointReading]]] | None = None
        # signal tag id -> (time µs, value, quality) of the newest row this writer stored: its current value, kept
        # from the rows the hook is handed instead of queried at each score
        self._latest: dict[int, tuple[int, float, int]] = {}

    def __call__(self, *, rows: StoredRows, now: datetime) -> None:
        tag_ids = rows.tag_id if isinstance(rows, SampleBatch) else np.fromiter((r.tag_id for r in rows), dtype=int)
        signals = self._signal_map()
        if not signals:
            return
        self._remember(rows, signals)
        touched = {signals[int(t)] for t in np.unique(tag_ids) if int(t) in signals}
        clock = time.monotonic()
        # The derived tags of every machine scored in this batch are stored together (one store call per device).
        self._pending = {}
        try:
            for model_id in sorted(touched):
                state = self._machines.setdefault(model_id, MachineHealth())
                if clock < state.next_score:
                    continue
                state.next_score = clock + settings.MAINTENANCE_SCORE_SECONDS
                try:
                    self.score(model_id=model_id, at=now)
                except Exception:
                    logger.exception("health scoring of model %s failed", model_id)
        finally:
            pending, self._pending = self._pending, None
        for (_, at), (device, tags, readings) in pending.items():
            try:
                readings_store(context=self._writer_context(), device=device, tags=tags, readings=readings, read_at=at)
            except Exception:
                logger.exception("storing the derived tags of device %s failed", device.pk)

    def _remember(self, rows: StoredRows, signals: dict[int, int]) -> None:
        """Keep the newest row of each signal in `rows` (as the current values keep the newest by time)."""
        columns: Iterable[tuple[int, int, Any, int]]
        if isinstance(rows, SampleBatch):
            mine = np.isin(rows.tag_id, self._signal_ids)
            columns = zip(
                rows.time_us[mine].tolist(),
                rows.tag_id[mine].tolist(),
                rows.value[mine].tolist(),
                rows.quality[mine].tolist(),
                strict=True,
            )
        else:
            columns = ((datetime_to_us(r.time), r.tag_id, r.value, r.quality) for r in rows)
        latest = self._latest
        for time_us, tag_id, value, quality in columns:
            if tag_id in signals:
                known = latest.get(tag_id)
                if known is None or time_us >= known[0]:
                    number = float(value) if isinstance(value, int | float) else math.nan
                    latest[tag_id] = (time_us, number, int(quality))

    def _signal_map(self) -> dict[int, int]:
        if time.monotonic() - self._signals_read >= CONFIG_SECONDS:
            through = HealthModel.signals.through.objects.filter(healthmodel__enabled=True)
            self._signals = dict(through.values_list("tag_id", "healthmodel_id"))
            self._signal_ids = np.fromiter(self._signals, dtype=np.int64, count=len(self._signals))
            self._signals_read = time.monotonic()
        return self._signals

    def forget_config(self) -> None:
        """Read the signals -> model map again at the next batch (tests, after configuring a model)."""
        self._signals_read = -math.inf

    # -- one model ----------------------------------------------------------------------------------------------

    def score(self, *, model_id: int, at: datetime) -> float | None:
        """Score the model's machine now (its signals' current values); the health score written, or None."""
        model = (
            HealthModel.objects.select_related(
                "machine__line__area__site",
                "current_version",
                "score_tag__device",
                "contribution_tag",
                "rul_median_tag",
                "rul_low_tag",
                "rul_high_tag",
                "alert_tag",
            )
            .filter(pk=model_id, enabled=True)
            .first()
        )
        if model is None or model.score_tag is None:
            return None
        state = self._machines.setdefault(model_id, MachineHealth())
        version = model.current_version
        if version is None:
            self._fit(model, state, at)
            return None
        if state.version_id != version.pk:
            self._load(model, version, state, at)
        assert state.pca is not None
        if scored_states_configured(model) and not _running(model.machine_id):
            return None
        row = self._row(version, state.pca)
        if row is None:
            return None
        policy = alert_policy(model)
        state.rows.append(row)
        rows = np.asarray(state.rows, dtype=float)
        # Stuck and dropped-out readings are reconstructed from the other signals before scoring: a sensor's fault
        # is reported as such (sensor suspects), not as the machine's.
        screened = sensor_screen(state.pca, rows, policy)
        health = float(screened.scores.health[-1])
        corroborated = float(screened.scores.health_corroborated[-1])
        contributions = explain(state.pca, pca_reconstruct(state.pca, rows, screened.mask)[-1])
        text = explanation_text(contributions, top=3)
        hours = at.timestamp() / 3600
        state.scores.append((hours, health, corroborated))
        t, h, c = np.asarray(state.scores, dtype=float).T
        assessment = assess(policy, t, h, c, now_h=hours, sensor_suspects=screened.suspects)
        if assessment.sensor_suspects:
            text = f"{text} (sensor suspect: {assessment.sensor_text()})"
        values: dict[Tag | None, float | str] = {model.score_tag: health, model.contribution_tag: text}
        rul = assessment.rul
        if rul is not None:
            values |= {model.rul_median_tag: rul.median_h, model.rul_low_tag: rul.low_h, model.rul_high_tag: rul.high_h}
        if assessment.alert and model.alerted_at is None:
            evidence = {
                "score": health,
                "score_corroborated": corroborated,
                "score_trend": _trend(state.scores),
                "contributions": [{"signal": c.signal, "sigma": c.sigma, "share": c.share} for c in contributions],
                "rul": None if rul is None else rul.to_json(),
                "sensor_suspects": dict(assessment.sensor_suspects),
                "model_version": version.version,
            }
            reasons = list(assessment.reasons)
            if alert_raise(model=model, reasons=reasons, explanation=text, evidence=evidence, at=at) is not None:
                values[model.alert_tag] = 1.0
        self._write(model, values, at)
        health_score_publish(
            machine_id=model.machine_id,
            at=at,
            score=health,
            explanation=text,
            contributions=contributions,
            rul=rul,
        )
        return health

    def _fit(self, model: HealthModel, state: MachineHealth, at: datetime) -> None:
        if time.monotonic() < state.next_fit:
            return
        state.next_fit = time.monotonic() + settings.MAINTENANCE_FIT_RETRY_SECONDS
        try:
            health_model_fit(model=model, reason="proposed automatically", now=at)
        except HealthModelError as exc:
            logger.info("health model of %s not fitted yet: %s", model.machine.name, exc)
            return
        # A new life: no alert, no RUL until the new scores show a trend.
        self._write(model, {model.alert_tag: 0.0}, at)
        rul_no_estimate_write(model=model, at=at, context=self._writer_context())

    def _load(self, model: HealthModel, version: HealthModelVersion, state: MachineHealth, at: datetime) -> None:
        """A new fit: its model, and the scores written since it (the RUL's history), from the historian."""
        state.version_id, state.pca = version.pk, PcaModel.from_json(version.model)
        state.scores.clear()
        state.rows.clear()
        assert model.score_tag_id is not None
        try:
            points = raw_values(
                tag_ids=[model.score_tag_id],
                start=max(version.training_end, at - HISTORY_SPAN),
                end=at + timedelta(minutes=1),
                max_points=50_000,
            )[model.score_tag_id].points
        except HistoryQueryError:
            points = []
        for p in list(points)[-HISTORY_MAX:]:
            if isinstance(p.value, float) and quality_is_good(p.quality):
                # The corroborated score is not historized: after a restart the history stands in for both.
                state.scores.append((p.time.timestamp() / 3600, p.value, p.value))

    def _row(self, version: HealthModelVersion, pca: PcaModel) -> np.ndarray | None:
        tags = version.signal_tags
        ids = [tags[name] for name in pca.signals]
        row: list[float] = []
        if all(t in self._latest for t in ids):  # every signal stored by this writer: its rows are the current values
            for t in ids:
                _, latest, quality = self._latest[t]
                row.append(latest if quality_is_good(quality) else math.nan)
        else:  # a signal another writer stores (or none stored since this writer started): the current values
            current = current_values(tag_ids=ids)
            for t in ids:
                value = current.get(t)
                number = value.value if value is not None and quality_is_good(value.quality) else None
                row.append(float(number) if isinstance(number, int | float) else math.nan)
        a = np.asarray(row, dtype=float)
        return a if np.isfinite(a).any() else None  # a missing reading is reconstructed (alerting.sensor_screen)

    def _write(self, model: HealthModel, values: dict[Tag | None, float | str], at: datetime) -> None:
        tags = {tag.pk: tag for tag in values if tag is not None}
        readings = [
            PointReading(tag.pk, value, Quality.GOOD)
            for tag, value in values.items()
            if tag is not None and not (isinstance(value, float) and not math.isfinite(value))
        ]
        if not readings or model.score_tag is None:
            return
        device = model.score_tag.device
        if self._pending is not None:  # a batch is being scored: stored with the others' at its end
            _, pending_tags, pending_readings = self._pending.setdefault((device.pk, at), (device, {}, []))
            pending_tags.update(tags)
            pending_readings.extend(readings)
            return
        readings_store(
            context=self._writer_context(), device=model.score_tag.device, tags=tags, readings=readings, read_at=at
        )

    def _writer_context(self) -> IngestContext:
        if self._writer is None:
            self._writer = derived_writer_context()
        return self._writer


def derived_writer_context() -> IngestContext:
    """A writer of derived tags: every other app's hooks (alarms evaluate the derived tags), never the scoring one
    (no scoring of scores)."""
    return IngestContext(hooks=[make() for make in after_store_factories() if make is not HealthScoring])


def rul_no_estimate_write(*, model: HealthModel, at: datetime, context: IngestContext | None = None) -> None:
    """Store "no estimate" (no value, quality NO_ESTIMATE) in the model's RUL tags (median, low, high) at `at`."""
    tags = {t.pk: t for t in (model.rul_median_tag, model.rul_low_tag, model.rul_high_tag) if t is not None}
    if not tags:
        return
    readings = [PointReading(pk, None, NO_ESTIMATE, NO_ESTIMATE_REASON) for pk in tags]
    device = next(iter(tags.values())).device
    readings_store(context=context or derived_writer_context(), device=device, tags=tags, readings=readings, read_at=at)


def _running(machine_id: int) -> bool:
    state = (
        StateInterval.objects.filter(machine_id=machine_id, end__isnull=True).values_list("state", flat=True).first()
    )
    return state == MachineState.RUNNING


def alert_policy(model: HealthModel) -> AlertPolicy:
    """The model's alerting settings as maintenance.health.alerting's policy."""
    hold_h = model.score_high_minutes / 60
    return AlertPolicy(
        score_limit=model.score_high,
        hold_h=hold_h,
        smoothing_h=min(0.5, max(hold_h / 2, SMOOTHING_MIN_H)),
        planning_horizon_h=model.planning_horizon_hours,
        failure_threshold=model.failure_score,
        stuck_samples=STUCK_SAMPLES,
    )


def _trend(scores: deque[tuple[float, float, float]]) -> list[list[Any]]:
    """At most TREND_POINTS (time, score) of the life so far, evenly spread, for the request's evidence."""
    items = list(scores)
    if len(items) > TREND_POINTS:
        step = len(items) / TREND_POINTS
        items = [items[int(k * step)] for k in range(TREND_POINTS - 1)] + [items[-1]]
    return [[datetime.fromtimestamp(h * 3600, tz=UTC).isoformat(), round(s, 4)] for h, s, _ in items]
