"""Machine-state intervals, derived at ingest from the values of the state, product and fault tags.

An interval is a maximal stretch of time over which a machine's key (state, product, automatic reason: sources.Key)
stays the same. `intervals_derive` is the after-store hook (registered in ProductionConfig.ready()):

- the hot path: the batch's rows of source tags are picked by set lookups (a poll's few rows in Python, a long
  batch with np.isin), and only those become Python rows; a batch without any costs nothing more. The
  configuration's version token is read at most once a second (services/sources.py). Source values that did not
  change since this process last saw them (a state tag polled every second) end there too, without a query.
- values in order (at or after the start of the machine's newest interval): the open interval is closed at the
  first value that changes the key and a new one opened, in one short transaction (written without the model's
  signals: the KPI summaries they change are deleted in one query over the stretch written, and none is when the
  stretch is younger than the summaries' settle time, services/summaries.py: the usual case, a stop of minutes).
  The machine is locked and its newest interval read in one query (SKIP LOCKED; the lock waited for when busy).
- late and backfilled values (the store-and-forward buffer replayed, Sparkplug history): older than the newest
  interval's start. The intervals they touch are derived again from history (historian.queries.raw), from the
  start of the interval (and its neighbour) holding the oldest late value to the end of the interval holding the
  next stored value of each late tag: exactly the stretch those values can change, no more.

`machine_intervals_rebuild` derives a machine's whole history again (after its state mapping changed).

A stretch derived again keeps intervals that did not change untouched; an interval that did change keeps what an
operator said of it (reason, comment, who and when) when the new one has the same state and overlaps it. What
operators did through production.services.downtime is also kept in tables of its own and applied again to the
stretch: the splits (StopSplit: a stop is cut there) and the classifications (StopClassification: reason and comment
of the stop starting at that instant), so they survive any derivation, a whole rebuild included.
Intervals written are announced to the downtime pages (production.services.live).
Per machine, derivations are serialized by locking its MachineProduction row, so two workers (or a worker and a
rebuild) never interleave on one machine; the exclusion constraint stays the last word.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Q

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Machine
from historian.quality import quality_is_good
from historian.queries.common import MAX_RAW_POINTS, Point
from historian.queries.history import current_values
from historian.queries.raw import raw_values
from historian.sample_types import SampleBatch, SampleRow, us_to_datetime
from production.models import MachineProduction, MachineState, StateInterval, StopClassification, StopSplit
from production.services.live import downtime_changed_publish, downtime_changes_publish
from production.services.sources import Key, MachineSources, Sources, Value, machine_sources, production_sources
from production.services.summaries import summaries_invalidate, summaries_may_overlap

logger = logging.getLogger(__name__)

#: History is read in slices of this length when intervals are derived again (rebuilds read months).
READ_SLICE = timedelta(days=1)
_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SeenValues:
    """The last value of each source tag this process handed to the derivation: a batch whose source values all
    equal these (a state tag polled every second) needs no query. Reset when the configuration reloads."""

    def __init__(self) -> None:
        self._values: dict[tuple[int, int], tuple[datetime, Value]] = {}  # (machine, tag) -> time, value
        self._sources: Sources | None = None
        self._lock = threading.Lock()

    def unchanged(self, sources: Sources, machine_id: int, rows: Sequence[SampleRow], texts: Texts) -> bool:
        with self._lock:
            if sources is not self._sources:
                self._values, self._sources = {}, sources
            for row in rows:
                seen = self._values.get((machine_id, row.tag_id))
                if seen is None or row.time < seen[0] or seen[1] != _row_value(row, texts):
                    return False
            return True

    def remember(self, machine_id: int, rows: Sequence[SampleRow], texts: Texts) -> None:
        with self._lock:
            for row in rows:
                seen = self._values.get((machine_id, row.tag_id))
                if seen is None or row.time >= seen[0]:
                    self._values[(machine_id, row.tag_id)] = (row.time, _row_value(row, texts))

    def forget(self, machine_id: int) -> None:
        with self._lock:
            self._values = {key: v for key, v in self._values.items() if key[0] != machine_id}


seen = SeenValues()


#: The current texts of the string tags among a batch's rows, whose rows reach the hooks without their value.
Texts = dict[int, Value]


def _row_value(row: SampleRow, texts: Texts) -> Value:
    if row.tag_id in texts:
        return texts[row.tag_id] if quality_is_good(row.quality) else None
    if row.value is None or not quality_is_good(row.quality) or row.value != row.value:
        return None
    return row.value


def _point_value(point: Point) -> Value:
    return _value(point.value, point.quality)


def _value(value: float | str | None, quality: int) -> Value:
    """A stored value as the derivation sees it: None unless good; a string tag's text as it is."""
    if value is None or not quality_is_good(quality):
        return None
    if isinstance(value, str):
        return value
    return None if value != value else float(value)


def intervals_hook() -> Callable[..., int]:
    """The after-store hook factory ProductionConfig.ready() registers (ingest.pipeline.hooks): every writer of
    values gets intervals_derive. Its memory (`seen`) stays per process for now: machine_intervals_rebuild forgets
    a machine in it."""
    return intervals_derive


def intervals_derive(*, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> int:
    """The after-store hook: derive the intervals the stored `rows` change; never raises (it runs on the ingest
    path: a failure is logged, and the next rebuild or late value puts things right). Returns intervals written."""
    try:
        return intervals_derive_strict(rows=rows, now=now)
    except Exception:
        logger.exception("state interval derivation failed for %d rows", len(rows))
        return 0


def intervals_derive_strict(*, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> int:
    """intervals_derive, raising what goes wrong."""
    sources = production_sources()
    if not sources.machines:
        return 0
    if isinstance(rows, SampleBatch):
        rows = _watched_rows(sources, rows)
    else:
        rows = [row for row in rows if row.tag_id in sources.by_tag]
    if not rows:
        return 0
    by_machine: dict[int, list[SampleRow]] = {}
    for row in rows:
        for machine_id in sources.by_tag[row.tag_id]:
            by_machine.setdefault(machine_id, []).append(row)
    texts = _texts(sources, rows)
    written = 0
    changes: dict[int, datetime] = {}
    for machine_id, mine in by_machine.items():
        ms = sources.machines[machine_id]
        if seen.unchanged(sources, machine_id, mine, texts):
            continue
        mine = sorted(mine, key=lambda r: r.time)
        changed = _machine_derive(ms, mine, texts=texts, now=now)
        seen.remember(machine_id, mine, texts)
        if changed:
            changes[machine_id] = mine[0].time
        written += changed
    downtime_changes_publish(changes=changes)
    return written


#: A batch up to this long is sifted in Python (a poll: a few rows, where numpy's per-call cost dominates); a longer
#: one with np.isin.
SMALL_BATCH = 64


def _watched_rows(sources: Sources, batch: SampleBatch) -> list[SampleRow]:
    """The batch's rows of source tags, as SampleRows (only those: the counters' rows never become objects)."""
    if len(batch) > SMALL_BATCH:
        return batch.take(np.isin(batch.tag_id, sources.watched)).rows()
    tags = batch.tag_id.tolist()
    by_tag = sources.by_tag
    index = [i for i, tag_id in enumerate(tags) if tag_id in by_tag]
    if not index:
        return []
    times, values, qualities = batch.time_us.tolist(), batch.value.tolist(), batch.quality.tolist()
    return [
        SampleRow(us_to_datetime(times[i]), tags[i], None if values[i] != values[i] else values[i], qualities[i])
        for i in index
    ]


def _texts(sources: Sources, rows: Sequence[SampleRow]) -> Texts:
    """String product tags' texts, read from their current values (one query, only for batches holding one)."""
    text_ids = sorted(sources.text_tags.intersection(row.tag_id for row in rows))
    if not text_ids:
        return {}
    return {tag_id: _value(cv.value, cv.quality) for tag_id, cv in current_values(tag_ids=text_ids).items()}


def _machine_derive(ms: MachineSources, rows: list[SampleRow], *, texts: Texts, now: datetime) -> int:
    with transaction.atomic():
        last = _machine_lock_last(ms.machine_id)
        written = 0
        boundary = _in_order_from(last) if last is not None else None
        late = [row for row in rows if boundary is not None and row.time < boundary]
        if late:
            written += _late_derive(ms, late, now=now)
            rows = [row for row in rows if boundary is not None and row.time >= boundary]
            last = _last_interval(ms.machine_id)
            if not rows or (last is not None and rows[0].time < _in_order_from(last)):
                return written  # the stretch derived again reached past them: history had them already
        in_order = _in_order_derive(ms, rows, last, texts=texts, now=now)
        if in_order is None:  # a change at the very start of the open interval: derive that stretch again
            return written + _late_derive(ms, rows, now=now)
        return written + in_order


def _last_interval(machine_id: int) -> StateInterval | None:
    return StateInterval.objects.filter(machine_id=machine_id).order_by("-start").first()


def _in_order_from(last: StateInterval) -> datetime:
    """Values from this time on extend the newest interval; older ones are late."""
    return last.start if last.end is None else last.end


def _machine_lock(machine_id: int) -> None:
    list(MachineProduction.objects.select_for_update().filter(machine_id=machine_id).values_list("pk"))


def _machine_lock_last(machine_id: int) -> StateInterval | None:
    """Lock the machine (its MachineProduction row) and read its newest interval: in one query when the lock is
    free (the usual case, SKIP LOCKED: a busy lock is never waited for inside that query, whose snapshot would then
    predate the other derivation's intervals); else, or when the machine has no interval yet, the lock waited for
    and the interval read after it. (A derivation committing between that query's snapshot and its lock is
    refused by the exclusion constraint, logged, and put right by the next value.)"""
    newest = (
        StateInterval.objects.filter(machine_id=machine_id, machine__production__isnull=False)  # an inner join
        .select_related("machine__production")
        .only(*_LAST_FIELDS)
        .select_for_update(of=("machine__production",), skip_locked=True)
        .order_by("-start")
        .first()
    )
    if newest is not None:
        return newest
    _machine_lock(machine_id)
    return _last_interval(machine_id)


#: What the derivation reads of the newest interval (and, to lock it, of the machine's configuration).
_LAST_FIELDS = (
    "machine_id",
    "start",
    "end",
    "state",
    "product_id",
    "auto_reason_id",
    "machine__id",
    "machine__production__id",
)


def _in_order_derive(
    ms: MachineSources, rows: list[SampleRow], last: StateInterval | None, *, texts: Texts, now: datetime
) -> int | None:
    """Apply values at or after the newest interval's start; None when one falls on the open interval's start."""
    values: dict[int, Value] = {}
    in_rows = {row.tag_id for row in rows}
    missing = [tag_id for tag_id in ms.tag_ids if tag_id not in in_rows]
    if missing:
        for tag_id, cv in current_values(tag_ids=missing).items():
            values[tag_id] = _value(cv.value, cv.quality)
    open_ = last if last is not None and last.end is None else None
    key = _key_of(open_) if open_ is not None else None
    written = 0
    touched: datetime | None = None  # the oldest instant an interval written here covers
    for time, group in groupby(rows, key=lambda r: r.time):
        for row in group:
            values[row.tag_id] = _row_value(row, texts)
        new = ms.key(values)
        if new == key:
            continue
        # Written without the model's signals: the summaries they would delete interval by interval
        # ([open start, time), then [time, open end)) are deleted below in one query, over their union.
        if open_ is not None:
            if time <= open_.start:
                return None
            StateInterval.objects.filter(pk=open_.pk).update(end=time)
            open_.end = time
            touched = open_.start if touched is None else touched
            written += 1
        open_ = None
        if new is not None:
            open_ = _interval_new(ms.machine_id, start=time, end=None, key=new)
            StateInterval.objects.bulk_create([open_])
            touched = time if touched is None else touched
            written += 1
        key = new
    if touched is not None and summaries_may_overlap(start=touched, now=now):
        summaries_invalidate(machine_id=ms.machine_id, start=touched)
    return written


def _key_of(interval: StateInterval) -> Key:
    return (interval.state, interval.product_id, interval.auto_reason_id)


def _interval_new(machine_id: int, *, start: datetime, end: datetime | None, key: Key) -> StateInterval:
    state, product_id, reason_id = key
    return StateInterval(
        machine_id=machine_id,
        start=start,
        end=end,
        state=state,
        product_id=product_id,
        auto_reason_id=reason_id,
        reason_id=reason_id,
        auto_classified=reason_id is not None,
    )


# Deriving a stretch again from history


def _late_derive(ms: MachineSources, late: Sequence[SampleRow], *, now: datetime) -> int:
    """Late values: derive again the stretch of intervals they can change (see the module docstring)."""
    start = _stretch_start(ms.machine_id, min(row.time for row in late))
    end = _stretch_end(ms, late)
    return _stretch_derive(ms, start=start, end=end, now=now)


def _stretch_start(machine_id: int, oldest: datetime) -> datetime:
    """The start of the interval holding `oldest` (or of the one before the gap it falls in), and of its
    predecessor when they touch (the late value may make the two one)."""
    intervals = StateInterval.objects.filter(machine_id=machine_id)
    holding = intervals.filter(start__lte=oldest).order_by("-start").first()
    if holding is None:
        return oldest
    before = intervals.filter(start__lt=holding.start).order_by("-start").first()
    return before.start if before is not None and before.end == holding.start else holding.start


def _stretch_end(ms: MachineSources, late: Sequence[SampleRow]) -> datetime | None:
    """Where the late values stop mattering: past the next stored value of each late tag, at the end of the
    interval holding it (and of its successor when they touch); None: to the open end."""
    newest: dict[int, datetime] = {}
    for row in late:
        newest[row.tag_id] = max(row.time, newest.get(row.tag_id, row.time))
    reach = None
    for tag_id, time in newest.items():
        after = raw_values(tag_ids=[tag_id], start=time, end=time + _US, boundaries=True)[tag_id].after
        if after is None:
            return None
        reach = after.time if reach is None else max(reach, after.time)
    assert reach is not None
    intervals = StateInterval.objects.filter(machine_id=ms.machine_id)
    holding = intervals.filter(start__lte=reach).order_by("-start").first()
    if holding is not None:
        if holding.end is None:
            return None
        reach = max(reach, holding.end)
    following = intervals.filter(start=reach).first()
    if following is not None:
        return following.end
    return reach


def _stretch_derive(ms: MachineSources, *, start: datetime, end: datetime | None, now: datetime) -> int:
    """Replace the machine's intervals in [start, end) (end None: to the open end) by those history gives;
    returns the intervals deleted and written."""
    stop = end if end is not None else _newest(ms, now) + _US
    segments = _segments(ms, start=start, stop=stop) if start < stop else []
    if end is not None and segments and segments[-1][1] is None:
        segments[-1][1] = end
    segments = _splits_apply(ms.machine_id, segments)
    return _stretch_replace(ms.machine_id, start=start, end=end, segments=segments)


def _newest(ms: MachineSources, now: datetime) -> datetime:
    """The newest stored time of the machine's source tags (or now, if later)."""
    times = [cv.time for cv in current_values(tag_ids=list(ms.tag_ids)).values()]
    return max([now, *times])


Segment = list  # [start, end | None, key]


def _segments(ms: MachineSources, *, start: datetime, stop: datetime) -> list[Segment]:
    """The intervals history gives over [start, stop): the key at `start` (the values before it), then a new
    segment wherever a stored value changes the key. The last one is open (end None)."""
    values: dict[int, Value] = {}
    segments: list[Segment] = []

    def push(time: datetime, key: Key | None) -> None:
        if segments and segments[-1][1] is None:
            if segments[-1][2] == key:
                return
            segments[-1][1] = time
        if key is not None:
            segments.append([time, None, key])

    first = True
    slice_start = start
    while slice_start < stop:
        slice_end = min(slice_start + READ_SLICE, stop)
        raw = raw_values(
            tag_ids=list(ms.tag_ids), start=slice_start, end=slice_end, boundaries=first, max_points=MAX_RAW_POINTS
        )
        points = sorted(((p.time, tag_id, p) for tag_id, rv in raw.items() for p in rv.points), key=lambda x: x[0])
        if first:
            values = {tag_id: _point_value(rv.before) for tag_id, rv in raw.items() if rv.before is not None}
            if not points or points[0][0] != start:
                push(start, ms.key(values))
            first = False
        for time, group in groupby(points, key=lambda x: x[0]):
            for _, tag_id, point in group:
                values[tag_id] = _point_value(point)
            push(time, ms.key(values))
        slice_start = slice_end
    return segments


def _stretch_replace(machine_id: int, *, start: datetime, end: datetime | None, segments: list[Segment]) -> int:
    intervals = StateInterval.objects.filter(machine_id=machine_id)
    # An interval reaching into the stretch from before it (a rebuild from a later start than the intervals'):
    # cut at the stretch's start.
    intervals.filter(start__lt=start).filter(Q(end__isnull=True) | Q(end__gt=start)).update(end=start)
    inside = intervals.filter(start__gte=start)
    if end is not None:
        inside = inside.filter(start__lt=end)
    old = list(inside.order_by("start"))
    old_by_shape = {(iv.start, iv.end, _key_of(iv)): iv for iv in old}
    new_shapes = {(s, e, tuple(k)) for s, e, k in segments}
    gone = [iv for shape, iv in old_by_shape.items() if shape not in new_shapes]
    fresh = [_interval_new(machine_id, start=s, end=e, key=k) for s, e, k in segments if (s, e, k) not in old_by_shape]
    for interval in fresh:
        _classification_carry(interval, gone)
    _classifications_apply(machine_id, fresh)
    if gone:
        StateInterval.objects.filter(pk__in=[iv.pk for iv in gone]).delete()
    StateInterval.objects.bulk_create(fresh)
    return len(gone) + len(fresh)


def _classification_carry(interval: StateInterval, gone: list[StateInterval]) -> None:
    """What an operator said of a replaced interval of the same state, overlapping the new one most."""
    far = datetime.max.replace(tzinfo=UTC)

    def overlap(old: StateInterval) -> timedelta:
        return min(interval.end or far, old.end or far) - max(interval.start, old.start)

    said = [iv for iv in gone if iv.state == interval.state and iv.manually_classified and overlap(iv) > timedelta(0)]
    if not said:
        return
    old = max(said, key=overlap)
    if old.reason_id is not None and not old.auto_classified:
        interval.reason_id, interval.auto_classified = old.reason_id, False
    interval.comment = old.comment
    interval.classified_by_id, interval.classified_at = old.classified_by_id, old.classified_at


def _splits_apply(machine_id: int, segments: list[Segment]) -> list[Segment]:
    """Cut the stops among `segments` at the instants operators split them (StopSplit)."""
    if not segments:
        return segments
    splits = StopSplit.objects.filter(machine_id=machine_id, at__gt=segments[0][0])
    if segments[-1][1] is not None:
        splits = splits.filter(at__lt=segments[-1][1])
    points = list(splits.order_by("at").values_list("at", flat=True))
    if not points:
        return segments
    cut: list[Segment] = []
    for start, end, key in segments:
        if key[0] != MachineState.RUNNING:
            for at in points:
                if start < at and (end is None or at < end):
                    cut.append([start, at, key])
                    start = at
        cut.append([start, end, key])
    return cut


def _classifications_apply(machine_id: int, fresh: list[StateInterval]) -> None:
    """What operators said of the stops starting where the new intervals start (StopClassification)."""
    stops = {iv.start: iv for iv in fresh if iv.state != MachineState.RUNNING}
    if not stops:
        return
    for said in StopClassification.objects.filter(machine_id=machine_id, start__in=list(stops)):
        interval = stops[said.start]
        if said.reason_id is not None:
            interval.reason_id, interval.auto_classified = said.reason_id, False
        interval.comment = said.comment
        interval.classified_by_id, interval.classified_at = said.classified_by_id, said.classified_at


def machine_intervals_rebuild(*, machine_id: int, start: datetime | None = None, now: datetime | None = None) -> int:
    """Derive a machine's intervals again from the history of its source tags (from `start`, default: its state
    tag's first stored value), e.g. after its state mapping changed; returns the intervals deleted and written."""
    now = now or datetime.now(UTC)
    with transaction.atomic():
        config = (
            MachineProduction.objects.select_for_update()
            .select_related("machine__line__area")
            .get(machine_id=machine_id)
        )
        ms = machine_sources(config)
        if start is None:
            start = _rebuild_start(ms)
            if start is None:
                return 0
        written = _stretch_derive(ms, start=start, end=None, now=now)
    seen.forget(machine_id)
    if written:
        downtime_changed_publish(machine_id=machine_id, since=start, resync=True)
    return written


def machine_intervals_rebuild_audited(
    *, machine_id: int, actor: Any, cause: str, remote_addr: str | None = None
) -> int:
    """machine_intervals_rebuild, audited (who, which machine, why, how many intervals): the admin's action and a
    tag CSV import that changed a machine's state mapping or sources."""
    written = machine_intervals_rebuild(machine_id=machine_id)
    machine = Machine.objects.select_related("line").get(pk=machine_id)
    audit_record(
        actor=actor,
        action=AuditAction.INTERVALS_REBUILD,
        target=f"{machine.line.name} / {machine.name}",
        details={"machine": machine_id, "cause": cause, "intervals_written": written},
        remote_addr=remote_addr,
    )
    return written


def _rebuild_start(ms: MachineSources) -> datetime | None:
    """The older of the state tag's first stored value and the machine's first interval (None: neither)."""
    first = raw_values(tag_ids=[ms.state_tag_id], start=_EPOCH, end=_EPOCH + _US, boundaries=True)
    starts = [point.time for point in (first[ms.state_tag_id].after,) if point is not None]
    oldest = StateInterval.objects.filter(machine_id=ms.machine_id).order_by("start").values_list("start", flat=True)
    starts += list(oldest[:1])
    return min(starts) if starts else None
