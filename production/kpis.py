"""KPIs to ISO 22400-2, in plain Python (no database, no Django): the one implementation that every page, the API,
the exports and the shift reports call, so that the dashboard and the shift summary cannot disagree.

Inputs: a machine's state intervals (non-overlapping), its counts per product for the same range (already the
counter increases: rollover and reset are the historian's business), the ideal cycle time of each product, the
shift calendar and the thresholds. Output: `Kpis`, the time elements and quantities, from which every ratio is a
property; all times are in seconds.

The time model (ISO 22400-2, 5.5 time elements; the six big losses of TPM to split the losses):

    calendar time (CT)               the range, real elapsed time (a DST day is 23 or 25 hours)
    - non-scheduled time             outside every shift
    = planned operation time (POT)   the shifts, clipped to the range
    - planned downtime (PDT)         planned breaks of the calendar, and stops with a planned reason or the
                                     PLANNED_STOP state (in a shift; counted once where they overlap)
    = planned busy time (PBT)
    - availability losses            breakdowns, setup and adjustments, Unclassified, no data
    = actual production time (APT)   running, plus micro-stops (stops shorter than the micro-stop threshold are a
                                     speed loss, not an availability loss: six big losses, "small stops")
    - performance losses             small stops, reduced speed (the rest: APT - produced x ideal cycle time)
    = net production time            produced quantity x ideal cycle time (per product, summed)
    - quality losses                 startup rejects and production rejects, x their ideal cycle time
    = fully productive time          good quantity x ideal cycle time

    availability A = APT / PBT
    performance  P = sum(produced_p x ideal cycle time_p) / APT       (ISO: effectiveness = PRI x PQ / APT)
    quality      Q = good / produced                                  (ISO: quality ratio = GQ / PQ)
    OEE            = A x P x Q                                        (ISO: OEE index)
    TEEP           = OEE x PBT / CT
        ISO 22400-2 does not define TEEP; this is the usual definition (OEE times the share of the calendar the
        machine was planned busy), so that non-scheduled time and planned stops, left out of OEE, count here.
    MTBF           = APT / (FE + 1)
        ISO 22400-2, mean operating time between failures: the operating times between failures, summed, over
        FE + 1 (FE failures split the range's operating time into FE + 1 stretches). The operating time is APT.
    MTTR           = sum of the failures' durations / FE                  (ISO: mean time to restoration)
        A failure is an unplanned stop in the UNPLANNED_DOWN state that is not a micro-stop, within PBT; down
        intervals that follow one another without a gap are one failure (a stop split in two by reason). FE = 0
        gives MTTR None. A failure counts once in a range it has PBT in, its time to restoration being its part
        in that PBT; one that was already in PBT before the range started (a breakdown that runs over a shift
        change or midnight) is `failures_carried` as well, so that consecutive ranges summed by `kpis_chain`
        count it once, in the first.

Any ratio whose denominator is zero is None, never an exception (MTBF too when there was no PBT); so are P and
OEE when a product that was made has no ideal cycle time (listed in `products_missing_ideal_cycle_time`). OEE is
0 when A is 0: a machine down all its planned busy time made nothing, though P and Q are then undefined.

Where the state intervals do not cover PBT (no data), that time is neither running nor a known stop: it is an
availability loss of its own, `no_data`, kept visible. A stop without a reason longer than the reason-required
threshold is `unclassified` (an availability loss of its own too, until someone classifies it); a shorter one
without a reason counts by its state: SETUP as setup and adjustments, any other (blocked and starved included) as a
breakdown. A stop whose reason names a performance loss (small stop, reduced speed) counts as a small stop, inside
APT; a reason with no loss category, or a quality one, counts by the stop's state as a short reasonless stop does.
A reason decides whether a stop is planned: a planned reason makes any state planned downtime, an unplanned reason
on the PLANNED_STOP state makes it a stop to account for.

A stop's length for the micro-stop and reason-required thresholds is its whole interval's, not its part inside the
range: a range that cuts a 30-minute breakdown does not turn its tail into a micro-stop.

Quality losses in time are per product (rejects_p x ideal cycle time_p), so with several products the sum of the
six big losses is exactly PBT - fully productive time, while OEE = A x P x Q follows ISO with the quality ratio by
count; the two agree when all products share one ideal cycle time (or one reject rate).

Several machines (a line, an area, a site): `kpis_sum` adds times and quantities and the ratios are computed from
the sums, never by averaging percentages: a machine planned for 2 hours weighs a quarter of one planned for 8.
The calendar time is then machine-time (CT x machines), so TEEP stays OEE x PBT / CT.

Running outside planned busy time (in non-scheduled time or a planned break) is not APT; it is reported as
`running_unplanned` so that production outside the schedule is visible. The counts passed in are for the range
as given, so parts made then still count as produced (performance can then exceed 1).

An interval with no end is the machine's current one: it runs to the range's end, so pass a range ending at most
at now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from production.calendar import (
    Calendar,
    Period,
    Shift,
    calendar_shifts,
    local_day,
    periods_clip,
    periods_intersect,
    periods_seconds,
    periods_subtract,
    periods_union,
)


class MachineState(StrEnum):
    """The PackML-like states of a machine."""

    RUNNING = "running"
    IDLE = "idle"  # idle or starved: waiting for material from upstream
    BLOCKED = "blocked"  # downstream cannot take the parts
    SETUP = "setup"  # setup or changeover
    PLANNED_STOP = "planned_stop"
    UNPLANNED_DOWN = "unplanned_down"
    OFF = "off"  # off or not scheduled


class Loss(StrEnum):
    """The six big losses (TPM)."""

    BREAKDOWN = "breakdown"
    SETUP_ADJUSTMENT = "setup_adjustment"
    SMALL_STOP = "small_stop"
    REDUCED_SPEED = "reduced_speed"
    STARTUP_REJECT = "startup_reject"
    PRODUCTION_REJECT = "production_reject"


#: Stops that can be micro-stops (a short setup is still a setup; OFF is no stop of a running machine).
MICRO_STOP_STATES = frozenset({MachineState.IDLE, MachineState.BLOCKED, MachineState.UNPLANNED_DOWN})
PERFORMANCE_LOSSES = frozenset({Loss.SMALL_STOP, Loss.REDUCED_SPEED})


@dataclass(frozen=True, slots=True)
class Reason:
    """A downtime reason: planned (planned downtime, not PBT) or not, and its big-loss category."""

    name: str
    planned: bool
    loss: Loss | None = None


@dataclass(frozen=True, slots=True)
class StateInterval:
    """One stretch of a machine's state history; `end` None: the current, open interval."""

    start: datetime
    end: datetime | None
    state: MachineState
    reason: Reason | None = None
    product: str | None = None


@dataclass(frozen=True, slots=True)
class ProductCount:
    """The parts of one product made in the range: produced (total), good, and of the rejects those made during
    startup (the rest are production rejects)."""

    product: str
    produced: float
    good: float
    startup_rejects: float = 0.0

    def __post_init__(self) -> None:
        if min(self.produced, self.good, self.startup_rejects) < 0:
            raise ValueError(f"{self.product}: counts cannot be negative")
        if self.good > self.produced:
            raise ValueError(f"{self.product}: more good parts ({self.good}) than produced ({self.produced})")
        if self.startup_rejects > self.produced - self.good:
            raise ValueError(f"{self.product}: more startup rejects than rejects")

    @property
    def rejects(self) -> float:
        return self.produced - self.good

    @classmethod
    def from_counters(
        cls,
        product: str,
        *,
        produced: float | None = None,
        good: float | None = None,
        rejects: float | None = None,
        startup_rejects: float = 0.0,
    ) -> ProductCount:
        """From any two of the three counters a machine may have (total, good, reject parts)."""
        if produced is None and good is not None and rejects is not None:
            produced = good + rejects
        elif good is None and produced is not None and rejects is not None:
            good = produced - rejects
        if produced is None or good is None:
            raise ValueError(f"{product}: two of produced, good and rejects are needed")
        return cls(product=product, produced=produced, good=good, startup_rejects=startup_rejects)


@dataclass(frozen=True, slots=True)
class Thresholds:
    micro_stop: timedelta = timedelta(minutes=2)
    reason_required: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Kpis:
    """Time elements (seconds) and quantities of one machine, or summed over several; the ratios are properties."""

    calendar_time: float = 0.0
    non_scheduled_time: float = 0.0
    planned_operation_time: float = 0.0  # POT
    planned_downtime: float = 0.0  # PDT
    planned_busy_time: float = 0.0  # PBT = POT - PDT
    actual_production_time: float = 0.0  # APT: running + micro-stops, within PBT
    running_time: float = 0.0  # running, within PBT (APT without the micro-stops)
    running_unplanned: float = 0.0  # running outside PBT (non-scheduled time, planned downtime)
    # Where the rest of PBT went, by state (ISO 22400-2: ADOT, AUST, ADET); micro-stops are in APT, not here.
    unit_down_time: float = 0.0  # ADOT: UNPLANNED_DOWN and OFF
    setup_time: float = 0.0  # AUST: SETUP
    delay_time: float = 0.0  # ADET: IDLE, BLOCKED
    # The six big losses (seconds) and the two kept visible beside them.
    breakdowns: float = 0.0
    setup_adjustments: float = 0.0
    small_stops: float = 0.0
    reduced_speed: float = 0.0
    startup_rejects_time: float = 0.0
    production_rejects_time: float = 0.0
    unclassified: float = 0.0
    no_data: float = 0.0
    micro_stops: int = 0
    # Quantities.
    produced: float = 0.0
    good: float = 0.0
    startup_rejects: float = 0.0
    net_production_time: float = 0.0  # sum(produced_p x ideal cycle time_p)
    fully_productive_time: float = 0.0  # sum(good_p x ideal cycle time_p)
    # Failures (MTBF, MTTR).
    failure_events: int = 0
    failure_time: float = 0.0
    failures_carried: int = 0  # of failure_events, those already failures in PBT before the range (0 or 1)
    machines: int = 1
    products_missing_ideal_cycle_time: tuple[str, ...] = ()

    @property
    def rejects(self) -> float:
        return self.produced - self.good

    @property
    def availability(self) -> float | None:
        return _ratio(self.actual_production_time, self.planned_busy_time)

    @property
    def performance(self) -> float | None:
        if self.products_missing_ideal_cycle_time:
            return None
        return _ratio(self.net_production_time, self.actual_production_time)

    @property
    def quality(self) -> float | None:
        return _ratio(self.good, self.produced)

    @property
    def oee(self) -> float | None:
        a, p, q = self.availability, self.performance, self.quality
        if a == 0:
            return 0.0  # never ran in planned busy time: nothing made, whatever P and Q (undefined) would be
        return None if a is None or p is None or q is None else a * p * q

    @property
    def teep(self) -> float | None:
        oee, loading = self.oee, _ratio(self.planned_busy_time, self.calendar_time)
        return None if oee is None or loading is None else oee * loading

    @property
    def mtbf(self) -> float | None:
        """Seconds; ISO 22400-2: sum of the operating times between failures / (FE + 1), per machine summed."""
        if self.planned_busy_time == 0:
            return None
        return _ratio(self.actual_production_time, self.failure_events + self.machines)

    @property
    def mttr(self) -> float | None:
        return _ratio(self.failure_time, self.failure_events)

    @property
    def availability_losses(self) -> float:
        return self.breakdowns + self.setup_adjustments + self.unclassified + self.no_data

    @property
    def losses(self) -> dict[str, float]:
        """The six big losses in seconds, then Unclassified and no data (Pareto order is the caller's)."""
        return {
            Loss.BREAKDOWN: self.breakdowns,
            Loss.SETUP_ADJUSTMENT: self.setup_adjustments,
            Loss.SMALL_STOP: self.small_stops,
            Loss.REDUCED_SPEED: self.reduced_speed,
            Loss.STARTUP_REJECT: self.startup_rejects_time,
            Loss.PRODUCTION_REJECT: self.production_rejects_time,
            "unclassified": self.unclassified,
            "no_data": self.no_data,
        }


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def intervals_check(intervals: Sequence[StateInterval]) -> list[StateInterval]:
    """The intervals in time order; ValueError if one ends before it starts or two overlap (they are a partition of
    the machine's time, never two states at once)."""
    ordered = sorted(intervals, key=lambda interval: interval.start)
    for interval in ordered:
        if interval.end is not None and interval.end < interval.start:
            raise ValueError(f"state interval ends before it starts: {interval.state} {interval.start}-{interval.end}")
    for before, after in pairwise(ordered):
        if before.end is None or after.start < before.end:
            raise ValueError(
                f"state intervals overlap: {before.state} from {before.start.isoformat()} to "
                f"{before.end.isoformat() if before.end else 'now'} and {after.state} from {after.start.isoformat()}"
            )
    return ordered


def machine_kpis(
    *,
    intervals: Sequence[StateInterval],
    counts: Iterable[ProductCount],
    ideal_cycle_times: Mapping[str, float],
    calendar: Calendar,
    start: datetime,
    end: datetime,
    thresholds: Thresholds | None = None,
) -> Kpis:
    """One machine's KPIs over [start, end) (see the module docstring). `ideal_cycle_times`: seconds per part, by
    product; `counts`: the parts made in [start, end)."""
    thresholds = thresholds or Thresholds()
    ordered = intervals_check(intervals)
    if end <= start:
        raise ValueError(f"empty range: {start} to {end}")
    window = [Period(start, end)]
    shifts = calendar_shifts(calendar, start=start, end=end)
    pot = periods_intersect([Period(shift.start, shift.end) for shift in shifts], window)
    breaks = [Period(pause.start, pause.end) for shift in shifts for pause in shift.planned_breaks]

    spans = [(interval, Period(interval.start, interval.end or end)) for interval in ordered]
    planned_stops = [period for interval, period in spans if _is_planned(interval)]
    pdt = periods_intersect(periods_union([*breaks, *planned_stops]), pot)
    pbt = periods_subtract(pot, pdt)

    values: dict[str, float] = {}

    def add(key: str, seconds: float) -> None:
        values[key] = values.get(key, 0.0) + seconds

    micro_stops = 0
    failures: list[Period] = []
    pbt_ends = [segment.end for segment in pbt]
    for interval, period in spans:
        seconds = periods_seconds(periods_clip(period, pbt, pbt_ends))
        if interval.state is MachineState.RUNNING:
            add("running_time", seconds)
            add("running_unplanned", periods_seconds(periods_clip(period, window)) - seconds)
            continue
        if seconds == 0 or _is_planned(interval):
            continue
        length = period.seconds  # the whole stop's, for the thresholds
        if interval.state in MICRO_STOP_STATES and length < thresholds.micro_stop.total_seconds():
            add("small_stops", seconds)
            micro_stops += 1
            continue
        bucket = _loss_bucket(interval, length, thresholds)
        add(bucket, seconds)
        if bucket != "small_stops":  # a stop classified as a performance loss is in APT, not a time element of it
            add(_state_element(interval.state), seconds)
        if interval.state is MachineState.UNPLANNED_DOWN:
            failures.append(period)

    covered = periods_union(period for _, period in spans)
    values["no_data"] = periods_seconds(periods_subtract(pbt, covered))
    # One failure per run of down intervals, whole (a breakdown that runs through a break is one failure), counted
    # if some of it falls in PBT; its time to restoration is its part in PBT.
    runs = [(failure, periods_seconds(periods_clip(failure, pbt, pbt_ends))) for failure in periods_union(failures)]
    runs = [(failure, seconds) for failure, seconds in runs if seconds > 0]
    restorations = [seconds for _, seconds in runs]
    carried = sum(1 for failure, _ in runs if _busy_before(calendar, failure, start))

    produced = good = startup = net = fully = 0.0
    missing: list[str] = []
    startup_time = production_reject_time = 0.0
    for count in counts:
        produced += count.produced
        good += count.good
        startup += count.startup_rejects
        cycle = ideal_cycle_times.get(count.product)
        if cycle is None:
            if count.produced:
                missing.append(count.product)
            continue
        net += count.produced * cycle
        fully += count.good * cycle
        startup_time += count.startup_rejects * cycle
        production_reject_time += (count.rejects - count.startup_rejects) * cycle

    apt = values.get("running_time", 0.0) + values.get("small_stops", 0.0)
    calendar_seconds = (end - start).total_seconds()
    pot_seconds = periods_seconds(pot)
    return Kpis(
        calendar_time=calendar_seconds,
        non_scheduled_time=calendar_seconds - pot_seconds,
        planned_operation_time=pot_seconds,
        planned_downtime=periods_seconds(pdt),
        planned_busy_time=periods_seconds(pbt),
        actual_production_time=apt,
        running_time=values.get("running_time", 0.0),
        running_unplanned=values.get("running_unplanned", 0.0),
        unit_down_time=values.get("unit_down_time", 0.0),
        setup_time=values.get("setup_time", 0.0),
        delay_time=values.get("delay_time", 0.0),
        breakdowns=values.get(Loss.BREAKDOWN, 0.0),
        setup_adjustments=values.get(Loss.SETUP_ADJUSTMENT, 0.0),
        small_stops=values.get("small_stops", 0.0),
        reduced_speed=0.0 if missing else apt - net - values.get("small_stops", 0.0),
        startup_rejects_time=startup_time,
        production_rejects_time=production_reject_time,
        unclassified=values.get("unclassified", 0.0),
        no_data=values["no_data"],
        micro_stops=micro_stops,
        produced=produced,
        good=good,
        startup_rejects=startup,
        net_production_time=net,
        fully_productive_time=fully,
        failure_events=len(restorations),
        failure_time=sum(restorations),
        failures_carried=carried,
        machines=1,
        products_missing_ideal_cycle_time=tuple(sorted(set(missing))),
    )


def _busy_before(calendar: Calendar, failure: Period, start: datetime) -> bool:
    """Whether the failure had planned busy time before `start` (it was already a failure then). Within a run of
    unplanned down intervals there is no planned stop: PBT there is the shifts less their breaks."""
    if failure.start >= start:
        return False
    before = [Period(failure.start, start)]
    shifts = calendar_shifts(calendar, start=failure.start, end=start)
    pot = periods_intersect([Period(shift.start, shift.end) for shift in shifts], before)
    breaks = periods_union(Period(pause.start, pause.end) for shift in shifts for pause in shift.planned_breaks)
    return periods_seconds(periods_subtract(pot, periods_intersect(breaks, pot))) > 0


def _is_planned(interval: StateInterval) -> bool:
    if interval.reason is not None:
        return interval.reason.planned
    return interval.state is MachineState.PLANNED_STOP


def _state_element(state: MachineState) -> str:
    if state is MachineState.SETUP:
        return "setup_time"
    if state in (MachineState.IDLE, MachineState.BLOCKED):
        return "delay_time"
    return "unit_down_time"


def _loss_bucket(interval: StateInterval, length: float, thresholds: Thresholds) -> str:
    """Where a stop (not planned, not a micro-stop) goes among the losses."""
    loss = interval.reason.loss if interval.reason is not None else None
    if loss in PERFORMANCE_LOSSES:
        return "small_stops"
    if loss in (Loss.BREAKDOWN, Loss.SETUP_ADJUSTMENT):
        return str(loss)
    if interval.reason is None and length >= thresholds.reason_required.total_seconds():
        return "unclassified"
    return Loss.SETUP_ADJUSTMENT if interval.state is MachineState.SETUP else Loss.BREAKDOWN


def kpis_sum(parts: Iterable[Kpis]) -> Kpis:
    """Several machines' KPIs over the same range as one (a line, an area, a site): times and quantities added,
    ratios from the sums. For one machine over a longer range, compute that range instead (MTBF counts one more
    operating stretch per part summed)."""
    items = list(parts)
    if not items:
        return Kpis(machines=0)
    totals: dict[str, Any] = {}
    for item in fields(Kpis):
        if item.name == "products_missing_ideal_cycle_time":
            totals[item.name] = tuple(sorted({p for part in items for p in part.products_missing_ideal_cycle_time}))
        else:
            totals[item.name] = sum(getattr(part, item.name) for part in items)
    return Kpis(**totals)


def kpis_chain(parts: Sequence[Kpis]) -> Kpis:
    """One machine's KPIs over consecutive ranges, in time order, as one: kpis_sum, a failure running from one range
    into the next counted once (in the first range it had PBT in; one carried into the first is counted)."""
    summed = kpis_sum(parts)
    if not parts:
        return summed
    first = parts[0].failures_carried
    return replace(
        summed,
        failure_events=summed.failure_events - summed.failures_carried + first,
        failures_carried=first,
        machines=1,
    )


def shift_kpis(
    *,
    shift: Shift,
    intervals: Sequence[StateInterval],
    counts: Iterable[ProductCount],
    ideal_cycle_times: Mapping[str, float],
    calendar: Calendar,
    thresholds: Thresholds | None = None,
) -> Kpis:
    """One machine's KPIs for one shift (its real start to its real end: 7 or 9 hours on a DST night)."""
    return machine_kpis(
        intervals=intervals,
        counts=counts,
        ideal_cycle_times=ideal_cycle_times,
        calendar=calendar,
        start=shift.start,
        end=shift.end,
        thresholds=thresholds,
    )


def day_kpis(
    *,
    day: date,
    intervals: Sequence[StateInterval],
    counts: Iterable[ProductCount],
    ideal_cycle_times: Mapping[str, float],
    calendar: Calendar,
    thresholds: Thresholds | None = None,
) -> Kpis:
    """One machine's KPIs for a local calendar day, midnight to midnight in the plant's time zone (23, 24 or 25
    hours of calendar time); a night shift crossing midnight counts in each day for its part in it."""
    period = local_day(calendar, day)
    return machine_kpis(
        intervals=intervals,
        counts=counts,
        ideal_cycle_times=ideal_cycle_times,
        calendar=calendar,
        start=period.start,
        end=period.end,
        thresholds=thresholds,
    )
