"""Alarm evaluation at ingest: every stored batch comes here through the after-store hook (ingest.pipeline.hooks)
that AlarmsConfig.ready() registers, in time order, buffered values when they are replayed.

The hook is an AlarmEvaluation: AlarmsConfig.ready() registers the class as the hook factory, so each writer of
values (a poller, a push runner: ingest.pipeline.context) has its own, with what it remembers between batches
(the definitions in memory, each tag's previous value for rates, the tags involved in an alarm, the journal's
known partitions).

Cost per batch, when no tag of the batch has an alarm: one cache GET. Otherwise: one read of the batch's alarms,
one read of current values only when a setpoint or suppression tag is not in the batch itself, and only for
alarms whose state changes, a transaction that locks them, writes them (one bulk UPDATE) and journals them (one
INSERT). Definitions come from the evaluation's cache (definitions.py).
"""

import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from django.db import transaction

from alarms.models import Alarm
from alarms.services.definitions import Definition, DefinitionCache
from alarms.services.journal import JournalPartitions, journal_write
from alarms.services.transitions import RUNTIME_FIELDS, AlarmEvent, events_after_commit, runtime_of, step_apply
from alarms.state_machine import Kind
from alarms.state_machine import evaluate as sm_evaluate
from historian.quality import quality_is_bad, quality_is_good
from historian.queries.history import current_values
from historian.sample_types import SampleBatch, SampleRow

logger = logging.getLogger(__name__)


class RateMemory:
    """The previous good value per tag, of one evaluation, for rate-of-change alarms (the first value has no rate)."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[datetime, float]] = {}

    def rate_per_minute(self, row: SampleRow) -> float | None:
        if row.value is None or not quality_is_good(row.quality):
            self._last.pop(row.tag_id, None)
            return None
        previous = self._last.get(row.tag_id)
        if previous is not None and row.time <= previous[0]:
            return None  # a replayed or late value says nothing about the rate
        self._last[row.tag_id] = (row.time, row.value)
        if previous is None:
            return None
        seconds = (row.time - previous[0]).total_seconds()
        return (row.value - previous[1]) / seconds * 60.0


class AlarmEvaluation:
    """The after-store hook of one writer of values: `evaluation(rows=..., now=...)`, with its own definitions in
    memory, rate memory and involved tags (one per IngestContext; a test makes its own)."""

    def __init__(self) -> None:
        self.definitions = DefinitionCache()
        self.rates = RateMemory()
        self.partitions = JournalPartitions()
        self._involved: tuple[object, np.ndarray] | None = None

    def __call__(self, *, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> list[AlarmEvent]:
        """Evaluate the alarms of the tags in `rows`; returns the transitions (pushed live after commit).

        Transitions and delays run on each sample's own time (a replayed batch is judged by when it was read, not
        by `now`, the time of the call).

        Called on the ingest hot path after the values are stored, so it never raises: a failure (the database
        gone mid-poll) is logged and the alarms are evaluated again with the next batch.
        """
        try:
            return self.strict(rows=rows, now=now)
        except Exception:
            logger.exception("alarm evaluation failed for %d rows", len(rows))
            return []

    def strict(self, *, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> list[AlarmEvent]:
        """The evaluation, raising what goes wrong (see _evaluate_batch)."""
        return _evaluate_batch(self, rows)

    def involved_tags(self, by_tag: dict[int, tuple[Definition, ...]]) -> np.ndarray:
        """Tags that have an alarm or are the setpoint or suppression of one (kept per loaded definitions)."""
        involved = self._involved
        if involved is None or involved[0] is not by_tag:
            ids = set(by_tag)
            for defs in by_tag.values():
                ids |= {i for d in defs for i in (d.setpoint_tag_id, d.suppress_tag_id) if i}
            involved = self._involved = (by_tag, np.array(sorted(ids), dtype=np.int32))
        return involved[1]


def alarms_evaluate(*, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> list[AlarmEvent]:
    """One batch evaluated by an evaluation of its own (definitions read afresh, no rate memory); never raises.
    Writers of values use their AlarmEvaluation hook instead."""
    return AlarmEvaluation()(rows=rows, now=now)


def alarms_evaluate_strict(*, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> list[AlarmEvent]:
    """alarms_evaluate, raising what goes wrong."""
    return AlarmEvaluation().strict(rows=rows, now=now)


def _evaluate_batch(evaluation: AlarmEvaluation, rows: Sequence[SampleRow] | SampleBatch) -> list[AlarmEvent]:
    """Evaluate `rows` with what `evaluation` remembers; raises what goes wrong.

    Optimistic: the batch is first evaluated on an unlocked read of its alarms. Most batches change nothing and
    end there (one query, no transaction: row locks would cost a WAL flush per poll). Alarms that do change are
    then locked, read again (an operator may have acknowledged one meanwhile) and evaluated again, and written.
    """
    by_tag = evaluation.definitions.for_tags()
    if isinstance(rows, SampleBatch):
        # A poll's columns: rows only for the tags an alarm watches or reads (most tags have no alarm).
        rows = rows.take(np.isin(rows.tag_id, evaluation.involved_tags(by_tag))).rows()
    work = sorted(
        ((row, d) for row in rows for d in by_tag.get(row.tag_id, ())), key=lambda item: (item[0].time, item[1].id)
    )
    if not work:
        return []
    rates: dict[int, float | None] = {}
    for row, d in work:
        if d.config.kind is Kind.RATE_OF_CHANGE and id(row) not in rates:
            rates[id(row)] = evaluation.rates.rate_per_minute(row)
    others = _other_values(rows, [d for _, d in work])
    ids = {d.id for _, d in work}
    unlocked = {a.pk: a for a in Alarm.objects.filter(pk__in=ids)}
    if ids - unlocked.keys():
        Alarm.objects.bulk_create(
            [Alarm(definition_id=i) for i in sorted(ids - unlocked.keys())], ignore_conflicts=True
        )
        unlocked |= {a.pk: a for a in Alarm.objects.filter(pk__in=ids - unlocked.keys())}
    changing = _evaluate(work, unlocked, others, rates)[0].keys()
    if not changing:
        return []
    with transaction.atomic():
        locked = {a.pk: a for a in Alarm.objects.select_for_update().filter(pk__in=changing).order_by("pk")}
        changed, entries, events = _evaluate([(r, d) for r, d in work if d.id in locked], locked, others, rates)
        if changed:
            Alarm.objects.bulk_update(list(changed.values()), RUNTIME_FIELDS)
            journal_write(entries=entries, partitions=evaluation.partitions)
        events_after_commit(events)
    return events


def _evaluate(
    work: list[tuple[SampleRow, Definition]],
    alarms: dict[int, Alarm],
    others: dict[int, float | None],
    rates: dict[int, float | None],
) -> tuple[dict[int, Alarm], list, list[AlarmEvent]]:
    """Apply the batch to `alarms` (in memory); returns the changed alarms, journal entries and events."""
    changed: dict[int, Alarm] = {}
    entries: list = []
    events: list[AlarmEvent] = []
    for row, d in work:
        alarm = alarms[d.id]
        reference = others.get(d.setpoint_tag_id) if d.setpoint_tag_id else None
        suppressed = d.suppressed_by(others.get(d.suppress_tag_id)) if d.suppress_tag_id else False
        step = sm_evaluate(
            d.config,
            runtime_of(alarm),
            now=row.time,
            value=row.value,
            quality_bad=quality_is_bad(row.quality),
            reference=reference,
            rate_per_minute=rates.get(id(row)),
            suppressed=suppressed,
        )
        was_changed, new_entries, new_events = step_apply(
            alarm, d, step, now=row.time, value=row.value, setpoint=reference
        )
        if was_changed:
            changed[d.id] = alarm
            entries += new_entries
            events += new_events
    return changed, entries, events


def _other_values(rows: Sequence[SampleRow], defs: list[Definition]) -> dict[int, float | None]:
    """Values of setpoint and suppression tags: from the batch itself where present, else the current values."""
    wanted = {d.setpoint_tag_id for d in defs if d.setpoint_tag_id} | {
        d.suppress_tag_id for d in defs if d.suppress_tag_id
    }
    if not wanted:
        return {}
    found: dict[int, float | None] = {}
    for row in rows:
        if row.tag_id in wanted:
            found[row.tag_id] = row.value if quality_is_good(row.quality) else None
    missing = wanted - found.keys()
    if missing:
        for tag_id, cv in current_values(tag_ids=sorted(missing)).items():
            # A string tag's current value is its text: no number, so unknown here, as in the rows the store
            # hands over (ingest.pipeline.hooks: a string tag's rows carry its quality only).
            number = None if isinstance(cv.value, str) else cv.value
            found[tag_id] = number if quality_is_good(cv.quality) else None
    return found
