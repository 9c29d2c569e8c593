"""KPIs for a machine, line, area or site over any range, per shift, day or week, the current shift of a line, and
the loss Pareto: the one implementation every page, the API, the exports and the reports call. The arithmetic is
production.kpis (ISO 22400-2); this module feeds it from the state intervals and the counters, and keeps it fast.

Counts: each machine's counter increases (historian.queries.counters: the historian's counter-increase rule,
rollover and reset handled), split at product changes by the intervals' product: parts made while an interval of
product X lasted are X's (in a gap between intervals, the last interval's product's: a product tag holds its
value). A machine without a product tag and with one ideal cycle time makes that product.

Speed: computing from raw intervals costs ~0.7 s per machine and 90 days, so figures are kept per machine and
*segment*: the stretches between the calendar's shift boundaries and local midnights. A shift, a day, a week and
any range between such boundaries is a union of whole segments, so its figures are a SQL sum over KpiSummary rows
(times and quantities added, ratios from the sums, as kpis_sum does). A segment's summary is computed on the first
request that needs it once the segment ended services.summaries.SETTLE ago, and deleted whenever something it was
computed from changes (services/summaries.py). The open segment, and the parts of a range that cut a segment, are
computed live.

A failure that runs across a segment boundary (a breakdown over midnight or over a shift change) is counted in
each segment it has PBT in, and marked `failures_carried` in all but the first: a machine's pieces of a range are
chained as kpis.kpis_chain does (the failures carried subtracted, but the range's first piece's), so MTBF and MTTR
count it once; the same per period of a series. (Not counted: a failure already in PBT before the range whose
first segment in the range has none of its PBT, a machine broken down over a non-scheduled night; its time to
restoration is.) Summed over machines, `machines` is the number of machines (MTBF's FE + 1 per machine).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from common.replicas import read_alias
from common.version_token import TokenCached, VersionToken
from historian.models import Machine
from historian.queries.counters import counter_increases
from production import kpis
from production.calendar import (
    Calendar,
    Period,
    Shift,
    calendar_shifts,
    local_to_utc,
    periods_clip,
    periods_intersect,
    periods_seconds,
    periods_subtract,
    periods_union,
    shift_at,
)
from production.kpis import Kpis
from production.models import (
    SUMMARY_FLOAT_FIELDS,
    SUMMARY_INT_FIELDS,
    DowntimeArea,
    DowntimeReason,
    KpiSummary,
    LossSummary,
    MachineProduction,
    ShiftCalendar,
    StateInterval,
)
from production.services.summaries import SETTLE

#: Materialisation reads history in chunks of this length.
CHUNK = timedelta(days=7)


class ScopeKind(StrEnum):
    MACHINE = "machine"
    LINE = "line"
    AREA = "area"
    SITE = "site"


class Grain(StrEnum):
    SHIFT = "shift"
    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    id: int


class LossKind(StrEnum):
    REASON = "reason"  # a stop with a reason (not planned)
    UNCLASSIFIED = "unclassified"  # no reason, longer than the reason-required threshold
    SHORT_STOP = "short_stop"  # no reason, shorter than that (a breakdown or setup by its state)
    MICRO_STOP = "micro_stop"  # shorter than the micro-stop threshold: a speed loss
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class ParetoRow:
    kind: LossKind
    reason_id: int | None
    label: str
    seconds: float


@dataclass(slots=True)
class _Machine:
    """What computing one machine's KPIs needs of its configuration."""

    machine_id: int
    line_id: int
    counters: dict[str, int | None]
    thresholds: kpis.Thresholds
    cycle_times: dict[str, float]
    default_product: str | None
    calendar: Calendar


@dataclass(frozen=True, slots=True)
class PeriodKpis:
    """KPIs of one period of a series (a shift, a local day or a week)."""

    start: datetime
    end: datetime
    label: str
    kpis: Kpis


@dataclass(frozen=True, slots=True)
class ShiftKpis:
    shift: Shift
    end: datetime  # now, while the shift lasts
    kpis: Kpis
    machines: dict[int, Kpis] = field(default_factory=dict)


# -- what a scope holds ---------------------------------------------------------------------------------------------


def scope_machine_ids(scope: Scope) -> list[int]:
    """The machines of the scope that have a production configuration (enabled or not: history stays)."""
    places = _configuration().places
    index = {ScopeKind.MACHINE: 0, ScopeKind.LINE: 1, ScopeKind.AREA: 2, ScopeKind.SITE: 3}[scope.kind]
    return sorted(mid for mid, place in places.items() if place[index] == scope.id)


def scope_exists(scope: Scope) -> bool:
    from historian.models import Area, Line, Site

    match scope.kind:
        case ScopeKind.MACHINE:
            return Machine.objects.filter(pk=scope.id).exists()
        case ScopeKind.LINE:
            return Line.objects.filter(pk=scope.id).exists()
        case ScopeKind.AREA:
            return Area.objects.filter(pk=scope.id).exists()
    return Site.objects.filter(pk=scope.id).exists()


#: Who sees every area's production data; others see the areas DowntimeArea grants them (or their group).
PERM_VIEW_ANY_AREA = "production.classify_downtime_any_area"


def areas_visible(*, user: Any) -> frozenset[int] | None:
    """The areas whose production data (intervals, stops, KPIs) `user` may see; None: every area. Production's
    area grants decide (DowntimeArea, the areas where they classify stops); holders of
    production.classify_downtime_any_area (engineers, administrators) see all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.has_perm(PERM_VIEW_ANY_AREA):
        return None
    return frozenset(DowntimeArea.area_ids(user))


def scope_visible(*, scope: Scope, user: Any) -> bool:
    """Whether `user` may see the scope's production data: its area (a site: all of its areas) is visible."""
    from historian.models import Area, Line

    visible = areas_visible(user=user)
    if visible is None:
        return True
    match scope.kind:
        case ScopeKind.MACHINE:
            areas = set(Machine.objects.filter(pk=scope.id).values_list("line__area_id", flat=True))
        case ScopeKind.LINE:
            areas = set(Line.objects.filter(pk=scope.id).values_list("area_id", flat=True))
        case ScopeKind.AREA:
            areas = {scope.id}
        case _:
            areas = set(Area.objects.filter(site_id=scope.id).values_list("pk", flat=True))
    return bool(areas) and areas <= visible


@dataclass(frozen=True, slots=True)
class _Configuration:
    machines: dict[int, _Machine]
    places: dict[int, tuple[int, int, int, int]]  # machine -> (machine, line, area, site)


def _configuration_load() -> _Configuration:
    configs = (
        MachineProduction.objects.select_related("machine__line__area__site")
        .prefetch_related("cycle_times__product")
        .order_by("machine_id")
    )
    calendars: dict[int, Calendar] = {}
    machines: dict[int, _Machine] = {}
    places: dict[int, tuple[int, int, int, int]] = {}
    for config in configs:
        line = config.machine.line
        if line.pk not in calendars:
            calendars[line.pk] = line_calendar(line.pk, site_timezone=line.area.site.timezone)
        cycles = {c.product.code: c.ideal_cycle_seconds for c in config.cycle_times.all()}
        machines[config.machine_id] = _Machine(
            machine_id=config.machine_id,
            line_id=line.pk,
            counters=config.counter_tags,
            thresholds=config.thresholds(),
            cycle_times=cycles,
            default_product=next(iter(cycles)) if config.product_tag_id is None and len(cycles) == 1 else None,
            calendar=calendars[line.pk],
        )
        places[config.machine_id] = (config.machine_id, line.pk, line.area_id, line.area.site_id)
    return _Configuration(machines, places)


#: What the KPIs need of the configuration (machines, their places, counters, cycle times, calendars), kept per
#: process while this token stays; production.signals bumps it when any of it changes.
CONFIGURATION_TOKEN = VersionToken("production:kpis:configuration")
_configuration_cached = TokenCached(CONFIGURATION_TOKEN, _configuration_load, fallback_seconds=5.0)


def _configuration() -> _Configuration:
    return _configuration_cached.get()


def kpi_configuration_invalidate() -> None:
    """The configuration changed: every process reloads it on its next request (never raises)."""
    CONFIGURATION_TOKEN.bump()


def _machines(machine_ids: Sequence[int]) -> dict[int, _Machine]:
    machines = _configuration().machines
    return {mid: machines[mid] for mid in machine_ids if mid in machines}


def line_calendar(line_id: int, *, site_timezone: str = "UTC") -> Calendar:
    """The calendar a line works to (its own, else its site's); none: no shift at all (all non-scheduled)."""
    found = ShiftCalendar.for_line(line_id)
    if found is None:
        return Calendar(tz=zoneinfo.ZoneInfo(site_timezone or "UTC"), shifts=())
    return found.calendar()


# -- segments -------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def segment_bounds(calendar: Calendar, *, start: datetime, end: datetime) -> tuple[datetime, ...]:
    """The calendar's natural boundaries (shift starts and ends, break-free; local midnights) in [start, end]."""
    bounds: set[datetime] = set()
    for shift in calendar_shifts(calendar, start=start, end=end):
        bounds.update((shift.start, shift.end))
    day = start.astimezone(calendar.tz).date()
    while True:
        midnight = local_to_utc(calendar.tz, datetime.combine(day, time()))
        if midnight > end:
            break
        bounds.add(midnight)
        day += timedelta(days=1)
    return tuple(sorted(b for b in bounds if start <= b <= end))


@dataclass(frozen=True, slots=True)
class _Plan:
    """How [start, end) of one calendar splits: whole closed segments (summarised) and pieces computed live."""

    cached: list[Period]
    live: list[Period]


def _plan(calendar: Calendar, *, start: datetime, end: datetime, now: datetime) -> _Plan:
    bounds = set(segment_bounds(calendar, start=start - timedelta(days=1), end=end + timedelta(days=1)))
    settled = now - SETTLE
    cached: list[Period] = []
    live: list[Period] = []
    inner = sorted(b for b in bounds if start < b < end)
    edges = [start, *inner, end]
    for a, b in itertools.pairwise(edges):
        natural = a in bounds and b in bounds
        if natural and b <= settled:
            cached.append(Period(a, b))
        else:
            stop = min(b, now)
            if stop > a:
                live.append(Period(a, stop))
    return _Plan(cached, live)


def _plans(machines: dict[int, _Machine], *, start: datetime, end: datetime, now: datetime) -> dict[int, _Plan]:
    """Each machine's plan; machines of one line share their calendar, and so their plan."""
    by_line: dict[int, _Plan] = {}
    plans = {}
    for mid, machine in machines.items():
        if machine.line_id not in by_line:
            by_line[machine.line_id] = _plan(machine.calendar, start=start, end=end, now=now)
        plans[mid] = by_line[machine.line_id]
    return plans


# -- computing a machine's pieces from intervals and counters -------------------------------------------------------


@dataclass(slots=True)
class _Computed:
    period: Period
    kpis: kpis.Kpis
    losses: dict[tuple[LossKind, int | None], float]


def _compute(machine: _Machine, pieces: Sequence[Period]) -> list[_Computed]:
    """The KPIs and losses of the machine's pieces (sorted, apart), from its intervals and counters."""
    if not pieces:
        return []
    out: list[_Computed] = []
    # Chunks: a bounded read of history each.
    chunk: list[Period] = []
    for piece in pieces:
        if chunk and piece.end - chunk[0].start > CHUNK:
            out += _compute_chunk(machine, chunk)
            chunk = []
        chunk.append(piece)
    if chunk:
        out += _compute_chunk(machine, chunk)
    return out


def _compute_chunk(machine: _Machine, pieces: Sequence[Period]) -> list[_Computed]:
    hull = Period(pieces[0].start, pieces[-1].end)
    rows = list(
        StateInterval.objects.filter(machine_id=machine.machine_id, start__lt=hull.end)
        .filter(Q(end__isnull=True) | Q(end__gt=hull.start))
        .select_related("reason", "product")
        .order_by("start")
    )
    intervals = [row.as_kpi() for row in rows]
    reason_ids = [row.reason_id for row in rows]
    starts = [iv.start for iv in intervals]
    # Counter edges: the pieces' bounds and every product change inside them.
    edges = {hull.start, hull.end}
    for piece in pieces:
        edges.update((piece.start, piece.end))
    for before, after in itertools.pairwise(intervals):
        if before.product != after.product and hull.start < after.start < hull.end:
            edges.add(after.start)
    ordered_edges = sorted(edges)
    tag_ids = [tag_id for tag_id in machine.counters.values() if tag_id is not None]
    increases = counter_increases(tag_ids=tag_ids, edges=ordered_edges) if tag_ids else {}
    result = []
    for piece in pieces:
        lo = max(bisect.bisect_right(starts, piece.start) - 1, 0)
        hi = bisect.bisect_left(starts, piece.end)
        inside = [i for i in range(lo, hi) if _reaches(intervals[i], piece.start)]
        mine = [intervals[i] for i in inside]
        mine_reasons = [reason_ids[i] for i in inside]
        counts = _counts(machine, intervals, starts, ordered_edges, increases, piece)
        figures = kpis.machine_kpis(
            intervals=mine,
            counts=counts,
            ideal_cycle_times=machine.cycle_times,
            calendar=machine.calendar,
            start=piece.start,
            end=piece.end,
            thresholds=machine.thresholds,
        )
        losses = _losses(mine, mine_reasons, machine, piece)
        result.append(_Computed(piece, figures, losses))
    return result


def _reaches(interval: kpis.StateInterval, at: datetime) -> bool:
    """The interval lasts past `at` (an open one always does)."""
    return interval.end is None or interval.end > at


def _counts(
    machine: _Machine,
    intervals: Sequence[kpis.StateInterval],
    starts: Sequence[datetime],
    edges: Sequence[datetime],
    increases: dict[int, np.ndarray],
    piece: Period,
) -> list[kpis.ProductCount]:
    first = bisect.bisect_left(edges, piece.start)
    last = bisect.bisect_left(edges, piece.end)
    by_product: dict[str, dict[str, float]] = {}
    for k in range(first, last):
        at = edges[k]
        i = bisect.bisect_right(starts, at) - 1
        # The product of the interval holding the stretch; in a gap without an interval, the last one's (a product
        # tag holds its value), before the first, the first one's.
        product = intervals[max(i, 0)].product if intervals else None
        code = product or machine.default_product or ""
        sums = by_product.setdefault(code, {})
        for name, tag_id in machine.counters.items():
            if tag_id is not None:
                sums[name] = sums.get(name, 0.0) + float(increases[tag_id][k])
    counts = []
    for code, sums in by_product.items():
        produced, good, rejects = sums.get("total"), sums.get("good"), sums.get("reject")
        if produced is not None and good is not None:
            good = min(good, produced)
        elif produced is not None and rejects is not None:
            rejects = min(rejects, produced)
        if not any((produced, good, rejects)):
            continue
        counts.append(kpis.ProductCount.from_counters(code, produced=produced, good=good, rejects=rejects))
    return counts


def _losses(
    intervals: Sequence[kpis.StateInterval], reason_ids: Sequence[int | None], machine: _Machine, piece: Period
) -> dict[tuple[LossKind, int | None], float]:
    """Seconds of planned busy time lost in the piece, by reason (the Pareto), as production.kpis counts them."""
    window = [piece]
    shifts = calendar_shifts(machine.calendar, start=piece.start, end=piece.end)
    pot = periods_intersect([Period(s.start, s.end) for s in shifts], window)
    breaks = [Period(p.start, p.end) for s in shifts for p in s.planned_breaks]
    spans = [(iv, Period(iv.start, iv.end or piece.end)) for iv in intervals]
    planned = [p for iv, p in spans if _planned(iv)]
    pbt = periods_subtract(pot, periods_intersect(periods_union([*breaks, *planned]), pot))
    ends = [p.end for p in pbt]
    losses: dict[tuple[LossKind, int | None], float] = {}
    micro = machine.thresholds.micro_stop.total_seconds()
    required = machine.thresholds.reason_required.total_seconds()
    for (iv, period), reason_id in zip(spans, reason_ids, strict=True):
        if iv.state is kpis.MachineState.RUNNING or _planned(iv):
            continue
        seconds = periods_seconds(periods_clip(period, pbt, ends))
        if seconds == 0:
            continue
        length = period.seconds
        if iv.state in kpis.MICRO_STOP_STATES and length < micro:
            key: tuple[LossKind, int | None] = (LossKind.MICRO_STOP, None)
        elif reason_id is not None:
            key = (LossKind.REASON, reason_id)
        elif length >= required:
            key = (LossKind.UNCLASSIFIED, None)
        else:
            key = (LossKind.SHORT_STOP, None)
        losses[key] = losses.get(key, 0.0) + seconds
    no_data = periods_seconds(periods_subtract(pbt, periods_union(p for _, p in spans)))
    if no_data:
        losses[(LossKind.NO_DATA, None)] = no_data
    return losses


def _planned(interval: kpis.StateInterval) -> bool:
    if interval.reason is not None:
        return interval.reason.planned
    return interval.state is kpis.MachineState.PLANNED_STOP


# -- summaries ------------------------------------------------------------------------------------------------------


def _summaries_ensure(machines: dict[int, _Machine], plans: dict[int, _Plan]) -> str:
    """Store the missing summaries of the plans' closed segments (one count query when none is missing). Returns
    the database to read them from: where reads go (a read replica inside `replica_reads()`), or the primary once
    any was missing there, for a replica has yet to replay what was just stored (or what another request stored a
    moment ago: its insert here then fails on the unique key, and the primary has it)."""
    alias = read_alias()
    expected = {mid: len(plan.cached) for mid, plan in plans.items() if plan.cached}
    if not expected:
        return alias
    # order_by(): the model's ordering would join it into the GROUP BY (one count per segment).
    found = _summary_filter(plans, alias).order_by().values("machine_id").annotate(n=Count("id"))
    counts = dict(found.values_list("machine_id", "n"))
    for machine_id, n in expected.items():
        if counts.get(machine_id, 0) >= n:
            continue
        plan = plans[machine_id]
        have = set(
            KpiSummary.objects.filter(
                machine_id=machine_id, start__gte=plan.cached[0].start, end__lte=plan.cached[-1].end
            ).values_list("start", flat=True)
        )
        missing = [p for p in plan.cached if p.start not in have]
        _summaries_store(machine_id, _compute(machines[machine_id], missing))
        alias = DEFAULT_DB_ALIAS
    return alias


def _summary_filter(plans: dict[int, _Plan], alias: str):
    # Machines of one calendar share their plan: one condition per plan, not per machine.
    spans: dict[tuple[datetime, datetime], list[int]] = {}
    for machine_id, plan in plans.items():
        if plan.cached:
            spans.setdefault((plan.cached[0].start, plan.cached[-1].end), []).append(machine_id)
    condition = Q()
    for (start, end), machine_ids in spans.items():
        condition |= Q(machine_id__in=machine_ids, start__gte=start, end__lte=end)
    return KpiSummary.objects.using(alias).filter(condition)


def _summaries_store(machine_id: int, computed: Iterable[_Computed]) -> None:
    summaries: list[KpiSummary] = []
    losses: list[list[LossSummary]] = []
    for item in computed:
        values = {name: getattr(item.kpis, name) for name in (*SUMMARY_FLOAT_FIELDS, *SUMMARY_INT_FIELDS)}
        summaries.append(
            KpiSummary(
                machine_id=machine_id,
                start=item.period.start,
                end=item.period.end,
                products_missing_ideal_cycle_time=",".join(item.kpis.products_missing_ideal_cycle_time),
                **values,
            )
        )
        losses.append(
            [LossSummary(kind=kind, reason_id=reason_id, seconds=s) for (kind, reason_id), s in item.losses.items()]
        )
    try:
        with transaction.atomic():
            KpiSummary.objects.bulk_create(summaries, batch_size=1000)
            rows = []
            for summary, mine in zip(summaries, losses, strict=True):
                for loss in mine:
                    loss.summary_id = summary.pk
                    rows.append(loss)
            LossSummary.objects.bulk_create(rows, batch_size=2000)
    except IntegrityError:
        pass  # another request stored them meanwhile: theirs are as good


def _kpis_from_row(row: dict, machines: int) -> kpis.Kpis:
    values: dict[str, Any] = {name: row.get(name) or 0.0 for name in SUMMARY_FLOAT_FIELDS}
    values |= {name: int(row.get(name) or 0) for name in SUMMARY_INT_FIELDS}
    missing = tuple(sorted({p for p in (row.get("missing") or "").split(",") if p}))
    return kpis.Kpis(**values, machines=machines, products_missing_ideal_cycle_time=missing)


def _sums(queryset, group: str):
    annotations = {name: Sum(name) for name in (*SUMMARY_FLOAT_FIELDS, *SUMMARY_INT_FIELDS)}
    from django.contrib.postgres.aggregates import StringAgg

    annotations["missing"] = StringAgg("products_missing_ideal_cycle_time", ",", distinct=True)  # type: ignore[assignment]
    return queryset.values(group).annotate(**annotations).order_by(group)


def kpis_total(by_machine: Iterable[kpis.Kpis]) -> kpis.Kpis:
    """Machines' KPIs over one range as one (kpis_sum, `machines` the number of machines)."""
    items = list(by_machine)
    return _total(items, len(items))


def _total(parts: Iterable[kpis.Kpis], machines: int) -> kpis.Kpis:
    summed = kpis.kpis_sum(parts)
    return replace(summed, machines=machines)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        raise ValueError(f"empty range: {start} to {end}")


# -- the public reads -----------------------------------------------------------------------------------------------


def machines_kpis(
    *, machine_ids: Sequence[int], start: datetime, end: datetime, now: datetime | None = None
) -> dict[int, kpis.Kpis]:
    """Each machine's KPIs over [start, end) (cut at now)."""
    now = _now(now)
    _check_range(start, end)
    machines = _machines(machine_ids)
    end = min(end, now)
    if end <= start:
        return {mid: kpis.Kpis() for mid in machines}
    plans = _plans(machines, start=start, end=end, now=now)
    alias = _summaries_ensure(machines, plans)
    parts: dict[int, list[kpis.Kpis]] = {mid: [] for mid in machines}
    first_carried: dict[int, int] = {}  # the failure carried into the range's first piece, per machine
    if any(plan.cached for plan in plans.values()):
        carried = False
        for row in _sums(_summary_filter(plans, alias), "machine_id"):
            parts[row["machine_id"]].append(_kpis_from_row(row, 1))
            carried = carried or bool(row["failures_carried"])
        if carried:
            first_carried = _first_carried(plans, start=start, alias=alias)
    for mid, plan in plans.items():
        for item in _compute(machines[mid], plan.live):
            parts[mid].append(item.kpis)
            if item.period.start == start:
                first_carried[mid] = item.kpis.failures_carried
    return {mid: _chained(items, first_carried.get(mid, 0)) for mid, items in parts.items()}


def _first_carried(plans: dict[int, _Plan], *, start: datetime, alias: str) -> dict[int, int]:
    """The machines whose summarised segment starting at `start` has a failure carried into it."""
    machine_ids = [mid for mid, plan in plans.items() if plan.cached and plan.cached[0].start == start]
    found = KpiSummary.objects.using(alias).filter(machine_id__in=machine_ids, start=start, failures_carried__gt=0)
    return dict(found.values_list("machine_id", "failures_carried"))


def _chained(parts: Sequence[kpis.Kpis], first_carried: int) -> kpis.Kpis:
    """One machine's consecutive pieces as one (kpis.kpis_chain, the pieces summed in any order)."""
    total = _total(parts, 1)
    return replace(
        total,
        failure_events=total.failure_events - total.failures_carried + first_carried,
        failures_carried=first_carried,
    )


def scope_kpis(*, scope: Scope, start: datetime, end: datetime, now: datetime | None = None) -> kpis.Kpis:
    """A machine's, line's, area's or site's KPIs over [start, end): machines summed by times and quantities."""
    by_machine = machines_kpis(machine_ids=scope_machine_ids(scope), start=start, end=end, now=now)
    return _total(by_machine.values(), len(by_machine))


def scope_kpis_series(
    *, scope: Scope, start: datetime, end: datetime, grain: Grain, now: datetime | None = None
) -> list[PeriodKpis]:
    """KPIs per shift, local day or week (Monday to Monday, local) overlapping [start, end), each cut to the range.
    Per shift needs one calendar: the first machine's line's (a line, or a site working to one calendar)."""
    now = _now(now)
    _check_range(start, end)
    machines = _machines(scope_machine_ids(scope))
    if not machines:
        return []
    calendar = next(iter(machines.values())).calendar
    periods = _periods(calendar, start=start, end=end, grain=grain)
    stop = min(end, now)
    plans = (
        _plans(machines, start=start, end=stop, now=now) if stop > start else {mid: _Plan([], []) for mid in machines}
    )
    alias = _summaries_ensure(machines, plans)
    # Every part (a segment's sum over machines, or a live piece) falls in the period holding its start.
    buckets: list[list[kpis.Kpis]] = [[] for _ in periods]
    period_starts = [p.start for p, _ in periods]

    def bucket(at: datetime) -> list[kpis.Kpis] | None:
        i = bisect.bisect_right(period_starts, at) - 1
        return buckets[i] if i >= 0 and at < periods[i][0].end else None

    def part(figures: kpis.Kpis, at: datetime) -> None:
        # A failure carried into a piece is counted there only when the piece starts the period (kpis_chain).
        target = bucket(at)
        if target is None:
            return
        if figures.failures_carried and at not in period_starts:
            figures = replace(
                figures, failure_events=figures.failure_events - figures.failures_carried, failures_carried=0
            )
        target.append(replace(figures, machines=0))

    if any(plan.cached for plan in plans.values()):
        for row in _sums(_summary_filter(plans, alias), "start"):
            part(_kpis_from_row(row, 0), row["start"])
    for mid, plan in plans.items():
        for item in _compute(machines[mid], plan.live):
            part(item.kpis, item.period.start)
    return [
        PeriodKpis(start=p.start, end=p.end, label=label, kpis=_total(items, len(machines)))
        for (p, label), items in zip(periods, buckets, strict=True)
    ]


def _periods(calendar: Calendar, *, start: datetime, end: datetime, grain: Grain) -> list[tuple[Period, str]]:
    if grain is Grain.SHIFT:
        return [
            (Period(max(s.start, start), min(s.end, end)), f"{s.date.isoformat()} {s.name}")
            for s in calendar_shifts(calendar, start=start, end=end)
        ]
    day = start.astimezone(calendar.tz).date()
    if grain is Grain.WEEK:
        day -= timedelta(days=day.weekday())
    step = timedelta(days=7 if grain is Grain.WEEK else 1)
    result = []
    while True:
        a = local_to_utc(calendar.tz, datetime.combine(day, time()))
        b = local_to_utc(calendar.tz, datetime.combine(day + step, time()))
        if a >= end:
            break
        if b > start:
            label = (
                f"{day.isocalendar().year}-W{day.isocalendar().week:02d}" if grain is Grain.WEEK else day.isoformat()
            )
            result.append((Period(max(a, start), min(b, end)), label))
        day += step
    return result


def line_shift_kpis(*, line_id: int, now: datetime | None = None) -> ShiftKpis | None:
    """The current shift's KPIs of a line (its start to now), with each machine's; None outside every shift."""
    now = _now(now)
    machine_ids = scope_machine_ids(Scope(ScopeKind.LINE, line_id))
    from historian.models import Line

    line = Line.objects.select_related("area__site").get(pk=line_id)
    calendar = line_calendar(line_id, site_timezone=line.area.site.timezone)
    shift = shift_at(calendar, now)
    if shift is None:
        return None
    by_machine = machines_kpis(machine_ids=machine_ids, start=shift.start, end=shift.end, now=now)
    return ShiftKpis(
        shift=shift, end=min(shift.end, now), kpis=_total(by_machine.values(), len(by_machine)), machines=by_machine
    )


def loss_pareto(*, scope: Scope, start: datetime, end: datetime, now: datetime | None = None) -> list[ParetoRow]:
    """Seconds of planned busy time lost over [start, end) by reason, largest first; stops nobody classified are
    one row (Unclassified), as are micro-stops, short stops without a reason, and time without data."""
    now = _now(now)
    _check_range(start, end)
    machines = _machines(scope_machine_ids(scope))
    stop = min(end, now)
    if stop <= start or not machines:
        return []
    plans = _plans(machines, start=start, end=stop, now=now)
    alias = _summaries_ensure(machines, plans)
    totals: dict[tuple[LossKind, int | None], float] = {}
    if any(plan.cached for plan in plans.values()):
        rows = (
            LossSummary.objects.using(alias)
            .filter(summary__in=_summary_filter(plans, alias))
            .order_by()
            .values("kind", "reason_id")
            .annotate(seconds=Sum("seconds"))
        )
        for row in rows:
            key: tuple[LossKind, int | None] = (LossKind(row["kind"]), row["reason_id"])
            totals[key] = totals.get(key, 0.0) + row["seconds"]
    for mid, plan in plans.items():
        for item in _compute(machines[mid], plan.live):
            for key, seconds in item.losses.items():
                totals[key] = totals.get(key, 0.0) + seconds
    names = {
        r.pk: str(r)
        for r in DowntimeReason.objects.filter(pk__in=[rid for _, rid in totals if rid]).select_related("category")
    }
    labels = {
        LossKind.UNCLASSIFIED: "Unclassified",
        LossKind.SHORT_STOP: "Short stops without a reason",
        LossKind.MICRO_STOP: "Micro-stops",
        LossKind.NO_DATA: "No data",
    }
    rows_out = [
        ParetoRow(kind=kind, reason_id=rid, label=names.get(rid, "?") if rid else labels[kind], seconds=seconds)
        for (kind, rid), seconds in totals.items()
        if seconds > 0
    ]
    return sorted(rows_out, key=lambda r: (-r.seconds, r.label))


def kpis_dict(figures: kpis.Kpis) -> dict[str, object]:
    """The KPIs as plain values (the API, the CSV export): every time element and quantity, then the ratios."""
    out: dict[str, object] = {f.name: getattr(figures, f.name) for f in fields(kpis.Kpis)}
    out["products_missing_ideal_cycle_time"] = list(figures.products_missing_ideal_cycle_time)
    for name in ("availability", "performance", "quality", "oee", "teep", "mtbf", "mttr", "rejects"):
        out[name] = getattr(figures, name)
    out["losses"] = {str(k): v for k, v in figures.losses.items()}
    return out
