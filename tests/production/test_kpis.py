"""ISO 22400-2 KPIs against values worked out by hand: an engineered night shift across midnight (two products, a
changeover, a planned break, a planned meeting, micro-stops, an unclassified stop, a breakdown, startup and
production rejects), the two DST nights and the spring-forward day in Europe/Berlin, several machines, and the
edge cases (nothing, all down, a range cutting intervals, overlaps)."""

import random
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from production.calendar import BreakPattern, Calendar, ShiftPattern, calendar_shifts
from production.kpis import (
    Kpis,
    Loss,
    MachineState,
    ProductCount,
    Reason,
    StateInterval,
    Thresholds,
    day_kpis,
    intervals_check,
    kpis_sum,
    machine_kpis,
    shift_kpis,
)

BERLIN = ZoneInfo("Europe/Berlin")
MIN = 60.0
S = MachineState

# Late 14:00-22:00 and Night 22:00-06:00 every day; Night has a planned 30-minute break at +240 min (02:00 local).
CALENDAR = Calendar(
    tz=BERLIN,
    shifts=(ShiftPattern("Late", time(14), 480), ShiftPattern("Night", time(22), 480)),
    breaks=(BreakPattern("Night", 240, 30),),
)
IDEAL = {"A": 30.0, "B": 20.0}  # seconds per part
MEETING = Reason("Team meeting", planned=True)
CHANGEOVER = Reason("Changeover", planned=False, loss=Loss.SETUP_ADJUSTMENT)
JAM = Reason("Jam", planned=False, loss=Loss.BREAKDOWN)

# The night shift of Tuesday 9 June 2026: 22:00 CEST = 20:00Z to Wednesday 06:00 CEST = 04:00Z (480 min).
NIGHT_START = datetime(2026, 6, 9, 20, tzinfo=UTC)


def at(minutes: float, start: datetime = NIGHT_START) -> datetime:
    return start + timedelta(minutes=minutes)


def timeline(rows, start: datetime = NIGHT_START) -> list[StateInterval]:
    """(from minute, to minute, state, reason, product) rows, minutes from `start`."""
    return [StateInterval(at(a, start), at(b, start), state, reason, product) for a, b, state, reason, product in rows]


# Minutes from 20:00Z. The break is 00:00Z-00:30Z = minutes 240-270.
ENGINEERED = timeline(
    [
        (0, 60, S.RUNNING, None, "A"),  # 60 running
        (60, 75, S.PLANNED_STOP, MEETING, None),  # 15 planned downtime
        (75, 95, S.SETUP, CHANGEOVER, "B"),  # 20 setup (availability loss)
        (95, 175, S.RUNNING, None, "B"),  # 80 running
        (175, 176.5, S.IDLE, None, "B"),  # 1.5 micro-stop (< 2 min): speed loss
        (176.5, 235, S.RUNNING, None, "B"),  # 58.5 running
        (235, 270, S.PLANNED_STOP, None, "B"),  # 35 planned: 5 before the break + the 30 of the break
        (270, 300, S.RUNNING, None, "B"),  # 30 running
        (300, 301, S.UNPLANNED_DOWN, None, "B"),  # 1 micro-stop
        (301, 330, S.RUNNING, None, "B"),  # 29 running
        (330, 342, S.UNPLANNED_DOWN, None, "B"),  # 12 down, no reason, >= 5 min: Unclassified; failure 1
        (342, 400, S.RUNNING, None, "B"),  # 58 running
        (400, 425, S.UNPLANNED_DOWN, JAM, "B"),  # 25 breakdown; failure 2
        (425, 428, S.BLOCKED, None, "B"),  # 3 blocked, no reason, 2-5 min: counted by state, a breakdown
        (428, 480, S.RUNNING, None, "B"),  # 52 running
    ]
)
ENGINEERED_COUNTS = [
    ProductCount("A", produced=100, good=96),  # 4 production rejects
    ProductCount("B", produced=900, good=870, startup_rejects=10),  # 10 startup + 20 production rejects
]


def night_kpis(intervals=ENGINEERED, counts=ENGINEERED_COUNTS, **kwargs) -> Kpis:
    (night,) = calendar_shifts(CALENDAR, start=NIGHT_START, end=at(1))
    return shift_kpis(
        shift=night, intervals=intervals, counts=counts, ideal_cycle_times=IDEAL, calendar=CALENDAR, **kwargs
    )


def test_engineered_night_shift_time_elements():
    k = night_kpis()
    assert k.calendar_time == 480 * MIN
    assert k.non_scheduled_time == 0
    assert k.planned_operation_time == 480 * MIN  # POT: the shift
    # PDT: meeting 15 + (planned stop 23:55-00:30 joined with the break 00:00-00:30) 35 = 50 min.
    assert k.planned_downtime == 50 * MIN
    assert k.planned_busy_time == 430 * MIN  # PBT = 480 - 50
    # Running 60 + 80 + 58.5 + 30 + 29 + 58 + 52 = 367.5; micro-stops 1.5 + 1 = 2.5; APT = 370.
    assert k.running_time == 367.5 * MIN
    assert (k.micro_stops, k.small_stops) == (2, 2.5 * MIN)
    assert k.actual_production_time == 370 * MIN
    # ISO time elements of the rest of PBT: down 12 + 25 = 37, setup 20, delay (blocked) 3; 370 + 60 = 430.
    assert (k.unit_down_time, k.setup_time, k.delay_time) == (37 * MIN, 20 * MIN, 3 * MIN)
    assert (k.running_unplanned, k.no_data) == (0, 0)


def test_engineered_night_shift_kpis():
    k = night_kpis()
    # A = APT / PBT = 370 / 430 = 37/43
    assert k.availability == pytest.approx(37 / 43)
    # Net production time = 100 x 30 s + 900 x 20 s = 3000 + 18000 = 21000 s = 350 min; P = 350 / 370 = 35/37.
    assert k.net_production_time == 21000
    assert k.performance == pytest.approx(35 / 37)
    # Q = (96 + 870) / (100 + 900) = 0.966
    assert (k.produced, k.good, k.rejects, k.startup_rejects) == (1000, 966, 34, 10)
    assert k.quality == pytest.approx(0.966)
    # OEE = 37/43 x 35/37 x 0.966 = 35 x 0.966 / 43 = 33.81 / 43 = 0.78628 (to 5 places)
    assert k.oee == pytest.approx(33.81 / 43)
    assert round(k.oee, 5) == 0.78628
    # TEEP = OEE x PBT / CT = 33.81 / 43 x 430 / 480 = 33.81 / 48 = 0.704375
    assert k.teep == pytest.approx(0.704375)
    # Failures: the unclassified 12-minute down and the 25-minute jam. MTBF = APT / (FE + 1) = 370 / 3 min;
    # MTTR = (12 + 25) / 2 = 18.5 min.
    assert (k.failure_events, k.failure_time) == (2, 37 * MIN)
    assert k.mtbf == pytest.approx(370 * MIN / 3)
    assert k.mttr == 18.5 * MIN


def test_engineered_night_shift_six_big_losses_add_up_to_pbt():
    k = night_kpis()
    assert k.losses == {
        Loss.BREAKDOWN: 28 * MIN,  # the jam 25 + the 3-minute reasonless blocked stop
        Loss.SETUP_ADJUSTMENT: 20 * MIN,
        Loss.SMALL_STOP: 2.5 * MIN,
        # APT - net - small stops = 22200 - 21000 - 150 = 1050 s
        Loss.REDUCED_SPEED: 1050,
        Loss.STARTUP_REJECT: 200,  # 10 x 20 s
        Loss.PRODUCTION_REJECT: 520,  # A 4 x 30 s + B 20 x 20 s = 120 + 400
        "unclassified": 12 * MIN,
        "no_data": 0,
    }
    assert k.availability_losses == 60 * MIN  # PBT - APT = 430 - 370
    # Fully productive time = 96 x 30 + 870 x 20 = 2880 + 17400 = 20280 s; with the losses it is PBT.
    assert k.fully_productive_time == 20280
    assert k.fully_productive_time + sum(k.losses.values()) == k.planned_busy_time


def test_classifying_the_unclassified_stop_moves_it_to_its_loss():
    rows = [*ENGINEERED]
    rows[10] = StateInterval(at(330), at(342), S.UNPLANNED_DOWN, JAM, "B")
    k = night_kpis(rows)
    assert (k.unclassified, k.breakdowns) == (0, 40 * MIN)
    assert k.availability == pytest.approx(37 / 43)  # availability does not depend on the classification


def test_a_stop_classified_as_a_planned_reason_leaves_planned_busy_time():
    rows = [*ENGINEERED]
    rows[10] = StateInterval(at(330), at(342), S.UNPLANNED_DOWN, Reason("Cleaning", planned=True), "B")
    k = night_kpis(rows)
    # PBT 430 - 12 = 418; APT 370; one failure fewer: MTBF 370 / 2, MTTR 25.
    assert k.planned_busy_time == 418 * MIN
    assert k.availability == pytest.approx(370 / 418)
    assert (k.failure_events, k.mttr, k.mtbf) == (1, 25 * MIN, 185 * MIN)


def test_micro_stop_threshold_is_strict_and_configurable():
    rows = timeline(
        [
            (0, 100, S.RUNNING, None, "A"),
            (100, 102, S.IDLE, None, "A"),  # exactly 2 min: not shorter than the threshold, an availability loss
            (102, 480, S.RUNNING, None, "A"),
        ]
    )
    k = night_kpis(rows, counts=[])
    assert (k.micro_stops, k.small_stops, k.breakdowns, k.delay_time) == (0, 0, 2 * MIN, 2 * MIN)
    k = night_kpis(rows, counts=[], thresholds=Thresholds(micro_stop=timedelta(minutes=3)))
    assert (k.micro_stops, k.small_stops, k.breakdowns) == (1, 2 * MIN, 0)
    k = night_kpis(rows, counts=[], thresholds=Thresholds(reason_required=timedelta(minutes=1)))
    assert (k.unclassified, k.breakdowns) == (2 * MIN, 0)


def test_a_stop_classified_as_a_small_stop_counts_in_actual_production_time():
    rows = timeline(
        [
            (0, 100, S.RUNNING, None, "A"),
            (100, 110, S.IDLE, Reason("Sensor wiped", planned=False, loss=Loss.SMALL_STOP), "A"),
            (110, 480, S.RUNNING, None, "A"),
        ]
    )
    k = night_kpis(rows, counts=[])
    # PBT = 480 - 30 (break, the machine running through it is running outside PBT) = 450; the 10 min are in APT.
    assert (k.planned_busy_time, k.actual_production_time, k.small_stops) == (450 * MIN, 450 * MIN, 10 * MIN)
    assert k.running_unplanned == 30 * MIN
    assert (k.delay_time, k.breakdowns, k.micro_stops) == (0, 0, 0)  # not an idle delay, not a micro-stop either


@pytest.mark.parametrize(
    ("night_start", "shift_minutes", "availability"),
    [
        # Spring forward: Saturday 28 March 2026 22:00 CET = 21:00Z to 06:00 CEST = 04:00Z, 420 real minutes.
        # Break 02:00 (does not exist) read as CET: 01:00Z-01:30Z. PBT = 420 - 30 = 390; APT = 390 - 30 = 360.
        (datetime(2026, 3, 28, 21, tzinfo=UTC), 420, Fraction(360, 390)),
        # Fall back: Saturday 24 October 22:00 CEST = 20:00Z to 06:00 CET = 05:00Z, 540 real minutes.
        # Break 02:00 (first occurrence, CEST): 00:00Z-00:30Z. PBT = 540 - 30 = 510; APT = 480.
        (datetime(2026, 10, 24, 20, tzinfo=UTC), 540, Fraction(480, 510)),
    ],
)
def test_dst_nights_count_their_real_length(night_start, shift_minutes, availability):
    (night,) = calendar_shifts(CALENDAR, start=night_start, end=night_start + timedelta(minutes=1))
    assert night.seconds == shift_minutes * MIN
    brk = night.planned_breaks[0]
    b0, b1 = (brk.start - night_start) / timedelta(minutes=1), (brk.end - night_start) / timedelta(minutes=1)
    assert b1 - b0 == 30
    rows = timeline(
        [
            (0, b0, S.RUNNING, None, "A"),
            (b0, b1, S.PLANNED_STOP, None, "A"),
            (b1, b1 + 60, S.RUNNING, None, "A"),
            (b1 + 60, b1 + 90, S.UNPLANNED_DOWN, JAM, "A"),  # 30-minute breakdown
            (b1 + 90, shift_minutes, S.RUNNING, None, "A"),
        ],
        start=night_start,
    )
    # 600 parts x 30 s = 300 min of net production time.
    k = shift_kpis(
        shift=night,
        intervals=rows,
        counts=[ProductCount("A", produced=600, good=600)],
        ideal_cycle_times=IDEAL,
        calendar=CALENDAR,
    )
    assert k.calendar_time == shift_minutes * MIN
    assert k.planned_busy_time == (shift_minutes - 30) * MIN
    assert k.availability == pytest.approx(float(availability))
    apt_minutes = shift_minutes - 60
    assert k.performance == pytest.approx(300 / apt_minutes)
    assert k.oee == pytest.approx(300 / (shift_minutes - 30))
    assert (k.failure_events, k.mttr) == (1, 30 * MIN)


def test_the_spring_forward_day_has_23_hours_of_calendar_time():
    # Local Sunday 29 March 2026: 28 Mar 23:00Z to 29 Mar 22:00Z (1380 min). Shifts in it: the night of the 28th
    # from 23:00Z to 04:00Z (300 min of its 420), Late 12:00Z-20:00Z (480), the night of the 29th from 20:00Z to
    # 22:00Z (120 of it): POT 900, non-scheduled 480 (04:00Z-12:00Z = 06:00-14:00 CEST). Planned downtime: the
    # night of the 28th's break 01:00Z-01:30Z (30); the 29th's is on the 30th. PBT = 870.
    start = datetime(2026, 3, 28, 20, tzinfo=UTC)
    rows = timeline(
        [
            (0, 300, S.RUNNING, None, "A"),  # 20:00Z-01:00Z
            (300, 330, S.PLANNED_STOP, None, "A"),  # 01:00Z-01:30Z, the break
            (330, 360, S.RUNNING, None, "A"),
            (360, 390, S.UNPLANNED_DOWN, None, "A"),  # 02:00Z-02:30Z, 30 min unclassified
            (390, 480, S.RUNNING, None, "A"),  # to 04:00Z
            (480, 960, S.OFF, None, None),  # 04:00Z-12:00Z, non-scheduled: not counted anywhere
            (960, 1620, S.RUNNING, None, "A"),  # 12:00Z to the 29th 23:00Z
        ],
        start=start,
    )
    k = day_kpis(
        day=date(2026, 3, 29),
        intervals=rows,
        counts=[ProductCount("A", produced=1500, good=1500)],  # 1500 x 30 s = 750 min
        ideal_cycle_times=IDEAL,
        calendar=CALENDAR,
    )
    assert k.calendar_time == 1380 * MIN
    assert (k.planned_operation_time, k.non_scheduled_time) == (900 * MIN, 480 * MIN)
    assert (k.planned_downtime, k.planned_busy_time) == (30 * MIN, 870 * MIN)
    assert (k.actual_production_time, k.unclassified, k.unit_down_time) == (840 * MIN, 30 * MIN, 30 * MIN)
    assert k.availability == pytest.approx(840 / 870)  # 28/29
    assert k.performance == pytest.approx(750 / 840)  # 25/28
    assert k.oee == pytest.approx(750 / 870)  # 25/29
    assert k.teep == pytest.approx(750 / 1380)  # OEE x 870/1380 = fully productive time / calendar time
    assert k.running_unplanned == 0


def test_running_in_non_scheduled_time_is_reported_not_counted():
    start = datetime(2026, 6, 9, 12, tzinfo=UTC)  # Late 14:00 CEST = 12:00Z
    rows = timeline([(-60, 480, S.RUNNING, None, "A")], start=start)  # from 11:00Z, an hour before the shift
    k = machine_kpis(
        intervals=rows,
        counts=[],
        ideal_cycle_times=IDEAL,
        calendar=CALENDAR,
        start=start - timedelta(hours=2),
        end=start + timedelta(minutes=480),
    )
    assert (k.calendar_time, k.non_scheduled_time, k.planned_busy_time) == (600 * MIN, 120 * MIN, 480 * MIN)
    assert (k.actual_production_time, k.running_unplanned, k.no_data) == (480 * MIN, 60 * MIN, 0)
    assert k.availability == 1


def test_line_kpis_sum_times_and_quantities_not_percentages():
    first = night_kpis()  # PBT 430, APT 370, net 350 min, 1000 made, 966 good
    rows = timeline(
        [
            (0, 130, S.PLANNED_STOP, Reason("No order", planned=True), None),
            (130, 200, S.RUNNING, None, "A"),
            (200, 350, S.UNPLANNED_DOWN, JAM, "A"),  # 150 min breakdown (its last 20 min in the break: 00:00Z)
            (350, 480, S.RUNNING, None, "A"),
        ]
    )
    second = night_kpis(rows, counts=[ProductCount("A", produced=300, good=270)])
    # Second machine: PDT = 130 + break 30 = 160, PBT 320; breakdown in PBT 200-240 = 40 (240-270 is the break,
    # 270-350 = 80 more): 120; APT = 70 + 130 = 200. A = 200/320; net = 300 x 30 s = 150 min, P = 150/200.
    assert (second.planned_busy_time, second.actual_production_time) == (320 * MIN, 200 * MIN)
    assert second.availability == pytest.approx(200 / 320)
    # One breakdown running through the break is one failure of 120 min in PBT.
    assert (second.failure_events, second.failure_time) == (1, 120 * MIN)
    line = kpis_sum([first, second])
    assert line.machines == 2
    assert line.planned_busy_time == 750 * MIN
    # A = (370 + 200) / (430 + 320) = 570 / 750 = 0.76, not the mean of 0.8605 and 0.625 (0.743).
    assert line.availability == pytest.approx(0.76)
    # P = (350 + 150) / 570; Q = (966 + 270) / 1300.
    assert line.performance == pytest.approx(500 / 570)
    assert line.quality == pytest.approx(1236 / 1300)
    assert line.oee == pytest.approx(0.76 * 500 / 570 * 1236 / 1300)
    # MTBF = (370 + 200) / ((2 + 1) + (1 + 1)) = 114 min; MTTR = (37 + 120) / 3.
    assert line.mtbf == pytest.approx(114 * MIN)
    assert line.mttr == pytest.approx(157 * MIN / 3)
    assert line.teep == pytest.approx(line.oee * 750 / 960)
    assert kpis_sum([]).availability is None


def test_a_range_cutting_intervals_clips_them_but_keeps_their_whole_length_for_the_thresholds():
    # Minutes 410-427 of the engineered night: the jam's last 15 minutes (one failure, 15 min to restore), then 2
    # minutes of the 3-minute blocked stop (not a micro-stop: the stop is 3 minutes long).
    k = machine_kpis(
        intervals=ENGINEERED,
        counts=[],
        ideal_cycle_times=IDEAL,
        calendar=CALENDAR,
        start=at(410),
        end=at(427),
    )
    assert (k.planned_busy_time, k.breakdowns, k.micro_stops) == (17 * MIN, 17 * MIN, 0)
    assert (k.failure_events, k.failure_time) == (1, 15 * MIN)
    # 335-336: one minute of the 12-minute reasonless stop is still Unclassified, not a micro-stop.
    k = machine_kpis(
        intervals=ENGINEERED, counts=[], ideal_cycle_times=IDEAL, calendar=CALENDAR, start=at(335), end=at(336)
    )
    assert (k.unclassified, k.small_stops, k.availability) == (1 * MIN, 0, 0)


def test_no_intervals_and_no_counts_is_no_data_not_an_error():
    k = night_kpis([], counts=[])
    assert (k.planned_busy_time, k.no_data, k.actual_production_time) == (450 * MIN, 450 * MIN, 0)
    assert k.availability == 0
    assert (k.performance, k.quality, k.mttr) == (None, None, None)
    assert k.oee == 0  # A = 0: nothing was made in planned busy time
    assert k.fully_productive_time + sum(k.losses.values()) == k.planned_busy_time


def test_all_down_shift():
    rows = timeline([(0, 480, S.UNPLANNED_DOWN, JAM, None)])
    k = night_kpis(rows, counts=[])
    # The break is planned downtime whatever the state: PBT 450, all of it breakdown, one failure.
    assert (k.planned_busy_time, k.breakdowns, k.availability, k.oee, k.teep) == (450 * MIN, 450 * MIN, 0, 0, 0)
    assert (k.performance, k.quality) == (None, None)
    assert (k.failure_events, k.mttr, k.mtbf) == (1, 450 * MIN, 0)


def test_non_scheduled_range_has_no_ratios():
    holiday = frozenset({date(2026, 6, 9)})
    calendar = Calendar(tz=BERLIN, shifts=CALENDAR.shifts, breaks=CALENDAR.breaks, holidays=holiday)
    # 9 June is a holiday: its Late shift (12:00Z-20:00Z) does not run.
    k = machine_kpis(
        intervals=timeline([(-480, 0, S.OFF, None, None)]),
        counts=[],
        ideal_cycle_times=IDEAL,
        calendar=calendar,
        start=at(-480),
        end=at(0),
    )
    assert (k.planned_busy_time, k.non_scheduled_time) == (0, 480 * MIN)
    assert (k.availability, k.performance, k.quality, k.oee, k.teep, k.mtbf, k.mttr) == (None,) * 7


def test_open_interval_runs_to_the_range_end():
    rows = [*ENGINEERED[:-1], StateInterval(at(428), None, S.RUNNING, None, "B")]
    assert night_kpis(rows) == night_kpis()


def test_a_product_without_ideal_cycle_time_leaves_performance_unknown():
    k = night_kpis(counts=[*ENGINEERED_COUNTS, ProductCount("C", produced=5, good=5)])
    assert k.products_missing_ideal_cycle_time == ("C",)
    assert (k.performance, k.oee, k.teep) == (None, None, None)
    assert k.availability == pytest.approx(37 / 43)
    assert k.quality == pytest.approx(971 / 1005)


def test_overlapping_intervals_are_refused_with_a_clear_error():
    rows = [*ENGINEERED, StateInterval(at(100), at(110), S.UNPLANNED_DOWN, JAM, "B")]
    with pytest.raises(ValueError, match="state intervals overlap: running from 2026-06-09T21:35:00"):
        night_kpis(rows)
    with pytest.raises(ValueError, match="overlap"):
        intervals_check([StateInterval(at(0), None, S.RUNNING), StateInterval(at(10), at(20), S.IDLE)])
    with pytest.raises(ValueError, match="ends before it starts"):
        intervals_check([StateInterval(at(10), at(0), S.RUNNING)])
    ordered = intervals_check([StateInterval(at(5), at(9), S.IDLE), StateInterval(at(0), at(5), S.RUNNING)])
    assert [interval.start for interval in ordered] == [at(0), at(5)]


def test_product_counts_from_any_two_counters():
    assert ProductCount.from_counters("A", produced=10, rejects=3) == ProductCount("A", 10, 7)
    assert ProductCount.from_counters("A", good=7, rejects=3) == ProductCount("A", 10, 7)
    assert ProductCount.from_counters("A", produced=10, good=7).rejects == 3
    with pytest.raises(ValueError, match="two of"):
        ProductCount.from_counters("A", produced=10)
    with pytest.raises(ValueError, match="more good"):
        ProductCount("A", produced=5, good=6)
    with pytest.raises(ValueError, match="startup rejects"):
        ProductCount("A", produced=5, good=4, startup_rejects=2)


def test_losses_always_add_up_to_planned_busy_time_on_a_random_week():
    # Not hand-computed: the identity PBT = fully productive time + the six big losses + Unclassified + no data
    # must hold whatever the states, reasons, gaps, thresholds and DST change (the week of 25 October).
    rnd = random.Random(13)
    reasons = [None, None, MEETING, CHANGEOVER, JAM, Reason("Slow", planned=False, loss=Loss.REDUCED_SPEED)]
    start = datetime(2026, 10, 21, tzinfo=UTC)
    end = start + timedelta(days=7)
    rows, cursor = [], start - timedelta(hours=3)
    while cursor < end:
        length = timedelta(seconds=rnd.randint(20, 1800))
        if rnd.random() < 0.05:
            cursor += length  # a gap: no data
            continue
        state = S.RUNNING if rnd.random() < 0.55 else rnd.choice(list(S))
        reason = None if state is S.RUNNING else rnd.choice(reasons)
        rows.append(StateInterval(cursor, cursor + length, state, reason, "A"))
        cursor += length
    k = machine_kpis(
        intervals=rows,
        counts=[ProductCount("A", produced=9000, good=8700, startup_rejects=50), ProductCount("B", 10, 9)],
        ideal_cycle_times=IDEAL,
        calendar=CALENDAR,
        start=start,
        end=end,
    )
    assert k.calendar_time == k.non_scheduled_time + k.planned_operation_time == 7 * 24 * 3600
    assert k.fully_productive_time + sum(k.losses.values()) == pytest.approx(k.planned_busy_time)
    assert k.planned_busy_time - k.actual_production_time == pytest.approx(k.availability_losses)
    elements = k.running_time + k.small_stops + k.unit_down_time + k.setup_time + k.delay_time + k.no_data
    assert elements == pytest.approx(k.planned_busy_time)
    assert k.planned_operation_time == k.planned_downtime + k.planned_busy_time
    assert k.oee == pytest.approx(k.availability * k.performance * k.quality)
    # ... and the week exercised every bucket.
    assert min(k.failure_events, k.no_data, k.micro_stops, k.unclassified, k.small_stops, k.setup_adjustments) > 0
