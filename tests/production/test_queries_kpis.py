"""KPIs through production.queries.kpis on an engineered night shift stored through the real store path, against
figures computed by hand; the summaries they keep, and a late value that deletes them."""

from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.sample_types import SampleRow
from ingest.pipeline.buffer import buffer_replay, local_buffer
from production.models import DowntimeReason, KpiSummary
from production.queries.kpis import (
    Grain,
    LossKind,
    Scope,
    ScopeKind,
    line_shift_kpis,
    loss_pareto,
    machines_kpis,
    scope_kpis,
    scope_kpis_series,
)
from tests.production.engineered import (
    APT,
    BREAKDOWN,
    END,
    GOOD_1,
    GOOD_2,
    LATER,
    NET,
    PBT,
    PRODUCED_1,
    PRODUCED_2,
    SETUP_ADJ,
    SMALL,
    UNCLASSIFIED,
    S,
    m,
)


def _assert_engineered(k) -> None:
    assert k.planned_operation_time == 480 * 60
    assert k.planned_downtime == 30 * 60
    assert k.planned_busy_time == PBT
    assert k.actual_production_time == pytest.approx(APT)
    assert k.breakdowns == pytest.approx(BREAKDOWN)
    assert k.unclassified == pytest.approx(UNCLASSIFIED)
    assert k.setup_adjustments == pytest.approx(SETUP_ADJ)
    assert k.small_stops == pytest.approx(SMALL)
    assert k.micro_stops == 1
    assert k.produced == pytest.approx(PRODUCED_1 + PRODUCED_2)
    assert k.good == pytest.approx(GOOD_1 + GOOD_2)
    assert k.net_production_time == pytest.approx(NET)
    assert k.availability == pytest.approx(APT / PBT)
    assert k.performance == pytest.approx(NET / APT)
    assert k.quality == pytest.approx((GOOD_1 + GOOD_2) / (PRODUCED_1 + PRODUCED_2))
    assert k.oee == pytest.approx(APT / PBT * NET / APT * (GOOD_1 + GOOD_2) / (PRODUCED_1 + PRODUCED_2))
    assert k.reduced_speed == pytest.approx(APT - NET - SMALL)
    assert k.failure_events == 2  # the Jam and the unclassified stop, both unplanned down
    assert k.mttr == pytest.approx((BREAKDOWN + UNCLASSIFIED) / 2)


@pytest.mark.timescale
def test_shift_kpis_through_the_queries_equal_the_hand_computed_ones(night, django_assert_max_num_queries):
    machine = Scope(ScopeKind.MACHINE, night.config.machine_id)

    _assert_engineered(scope_kpis(scope=machine, start=S, end=END, now=LATER))
    # The shift crosses midnight: two segments, both summarised now, and read back from the summaries.
    assert KpiSummary.objects.filter(machine=night.config.machine).count() == 2
    # Read back from the summaries: the configuration, one count and one sum; nothing computed again.
    with django_assert_max_num_queries(12):
        _assert_engineered(scope_kpis(scope=machine, start=S, end=END, now=LATER))
    # The same machine seen as its line and its site: one machine, the same figures.
    line = Scope(ScopeKind.LINE, night.config.machine.line_id)
    _assert_engineered(scope_kpis(scope=line, start=S, end=END, now=LATER))


@pytest.mark.timescale
def test_a_range_that_cuts_segments_is_computed_live_and_agrees(night):
    """22:30 to 05:00: both edge pieces live, nothing stored; the figures follow from the timeline by hand."""
    k = machines_kpis(machine_ids=[night.config.machine_id], start=m(30), end=m(420), now=LATER)[
        night.config.machine_id
    ]
    assert not KpiSummary.objects.exists()
    assert k.planned_busy_time == (390 - 30) * 60
    assert k.breakdowns == pytest.approx(BREAKDOWN)
    assert k.unclassified == pytest.approx(UNCLASSIFIED)


@pytest.mark.timescale
def test_series_per_shift_and_day_and_the_pareto(night):
    site = Scope(ScopeKind.SITE, night.config.machine.line.area.site_id)

    shifts = scope_kpis_series(scope=site, start=S - timedelta(hours=1), end=END, grain=Grain.SHIFT, now=LATER)
    assert [p.label for p in shifts][-1] == "2026-03-02 Night"
    _assert_engineered(shifts[-1].kpis)
    days = scope_kpis_series(scope=site, start=m(-120), end=m(600), grain=Grain.DAY, now=LATER)
    assert [p.label for p in days] == ["2026-03-02", "2026-03-03"]
    assert days[0].kpis.planned_busy_time == 120 * 60  # 22:00-24:00
    assert days[1].kpis.planned_busy_time == (480 - 150) * 60  # 00:30-06:00
    assert days[0].kpis.produced + days[1].kpis.produced == pytest.approx(PRODUCED_1 + PRODUCED_2)

    pareto = loss_pareto(scope=site, start=S, end=END, now=LATER)
    assert [(r.kind, r.label, r.seconds) for r in pareto] == [
        (LossKind.REASON, str(DowntimeReason.objects.get(name="Jam")), BREAKDOWN),
        (LossKind.UNCLASSIFIED, "Unclassified", UNCLASSIFIED),
        (LossKind.SHORT_STOP, "Short stops without a reason", SETUP_ADJ),
        (LossKind.MICRO_STOP, "Micro-stops", SMALL),
    ]


@pytest.mark.timescale
def test_a_late_counter_value_deletes_the_summaries_it_changes(night):
    machine = Scope(ScopeKind.MACHINE, night.config.machine_id)
    scope_kpis(scope=machine, start=S, end=END, now=LATER)
    assert KpiSummary.objects.filter(machine=night.config.machine).count() == 2

    # Store-and-forward delivers, late, a reset of the total counter at 05:50: 164 -> 0 -> 664 is 664 parts.
    buffer = local_buffer()
    buffer.append([SampleRow(m(470), night.config.total_tag_id, 0.0, Quality.GOOD)])
    assert buffer_replay(buffer=buffer, max_seconds=0).replayed == 1

    kept = list(KpiSummary.objects.filter(machine=night.config.machine).values_list("start", flat=True))
    assert kept == [S]  # the segment after midnight went, the one before it stays
    k = scope_kpis(scope=machine, start=S, end=END, now=LATER)
    assert k.produced == pytest.approx(PRODUCED_1 + 664)


@pytest.mark.timescale
def test_the_current_shift_of_a_line_runs_to_now(night):
    now = m(90)  # 23:30, during the shift
    current = line_shift_kpis(line_id=night.config.machine.line_id, now=now)
    assert current is not None
    assert current.shift.start == S
    assert current.end == now
    assert current.kpis.planned_busy_time == 90 * 60
    assert current.kpis.breakdowns == pytest.approx(BREAKDOWN)
    assert line_shift_kpis(line_id=night.config.machine.line_id, now=m(-60)) is None  # 21:00: no shift


@pytest.mark.timescale
def test_classifying_a_stop_moves_it_in_the_pareto_and_the_losses(night):
    """An operator gives the unclassified stop a reason (a setup): its summary goes, the figures follow."""
    from production.models import StateInterval
    from tests.production.factories import DowntimeReasonFactory

    site = Scope(ScopeKind.SITE, night.config.machine.line.area.site_id)
    changeover = DowntimeReasonFactory(category__site_id=site.id, name="Changeover", loss="setup_adjustment")
    assert scope_kpis(scope=site, start=S, end=END, now=LATER).unclassified == UNCLASSIFIED
    assert KpiSummary.objects.count() == 2
    stop = StateInterval.objects.get(machine=night.config.machine, start=m(200))
    stop.reason = changeover
    stop.save()
    assert KpiSummary.objects.count() == 1  # the segment after midnight, where the stop is, went

    k = scope_kpis(scope=site, start=S, end=END, now=LATER)
    assert k.unclassified == 0
    assert k.setup_adjustments == pytest.approx(SETUP_ADJ + UNCLASSIFIED)
    pareto = {r.label: r.seconds for r in loss_pareto(scope=site, start=S, end=END, now=LATER)}
    assert pareto[str(changeover)] == UNCLASSIFIED
    assert "Unclassified" not in pareto


@pytest.fixture
def two_shifts(line):
    """Early 06:00-14:00 and late 14:00-22:00 (UTC plant, no breaks); a breakdown 13:50-14:10 across the shift
    change, another 15:00-15:05, off at 22:00."""
    import datetime as dt

    from tests.production.conftest import T0
    from tests.production.factories import ShiftPatternFactory

    site = line.config.machine.line.area.site
    site.timezone = "UTC"
    site.save()
    every_day = list(range(7))
    early = ShiftPatternFactory(
        calendar__site=site, name="Early", start_time=dt.time(6), duration_minutes=480, weekdays=every_day
    )
    ShiftPatternFactory(
        calendar=early.calendar, name="Late", start_time=dt.time(14), duration_minutes=480, weekdays=every_day
    )
    for minutes, state in ((0, 1), (470, 6), (490, 1), (540, 6), (545, 1), (960, 7)):
        line.store(minutes * 60, state=state, product=1, fault=0)
    return line, T0


@pytest.mark.timescale
def test_a_breakdown_across_a_shift_change_is_one_failure_for_the_range(two_shifts):
    from production.kpis import machine_kpis

    line, t0 = two_shifts
    machine = Scope(ScopeKind.MACHINE, line.config.machine_id)
    start, end = t0, t0 + timedelta(hours=16)
    first = scope_kpis(scope=machine, start=start, end=end, now=LATER)  # both shifts summarised, then read back
    assert KpiSummary.objects.filter(machine=line.config.machine).count() == 2
    again = scope_kpis(scope=machine, start=start, end=end, now=LATER)
    mixed = scope_kpis(scope=machine, start=start, end=end, now=end + timedelta(minutes=5))  # the late shift live
    for k in (first, again, mixed):
        assert k.failure_events == 2  # the breakdown over 14:00 once, and the 5-minute one
        assert k.failure_time == pytest.approx(25 * 60)
        assert k.mttr == pytest.approx(25 * 60 / 2)
        assert k.mtbf == pytest.approx(k.actual_production_time / 3)

    # The same as one computation over the whole range.
    from production.queries.kpis import _configuration

    config = _configuration().machines[line.config.machine_id]
    intervals = [iv.as_kpi() for iv in line.config.machine.state_intervals.select_related("reason", "product")]
    whole = machine_kpis(
        intervals=intervals, counts=[], ideal_cycle_times={}, calendar=config.calendar, start=start, end=end
    )
    assert whole.failure_events == 2

    # A shift alone counts the failures in it, the one carried over the shift change included.
    shifts = scope_kpis_series(scope=machine, start=start, end=end, grain=Grain.SHIFT, now=LATER)
    assert [(s.kpis.failure_events, s.kpis.failure_time) for s in shifts] == [(1, 600.0), (2, 900.0)]
    late = scope_kpis(scope=machine, start=t0 + timedelta(hours=8), end=end, now=LATER)
    assert late.failure_events == 2
    day = scope_kpis_series(scope=machine, start=start, end=end, grain=Grain.DAY, now=LATER)
    assert [d.kpis.failure_events for d in day] == [2]
