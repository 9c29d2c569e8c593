"""Shift calendars in Europe/Berlin: shifts across midnight, the 23- and 25-hour DST days, breaks, holidays, the
shift at an instant, non-scheduled time. Every expected instant is worked out by hand in UTC in the comments
(CET = UTC+1, CEST = UTC+2; 2026: clocks go forward on Sunday 29 March at 02:00 CET, back on Sunday 25 October
at 03:00 CEST)."""

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from production.calendar import (
    WEEKDAYS,
    BreakPattern,
    Calendar,
    Period,
    ShiftPattern,
    calendar_shifts,
    local_day,
    non_scheduled,
    periods_intersect,
    periods_seconds,
    periods_subtract,
    periods_union,
    shift_at,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def three_shifts(**kwargs) -> Calendar:
    """Early 06-14, Late 14-22, Night 22-06, every day; a 30-minute break in Early at 10:00 and in Night at 02:00."""
    return Calendar(
        tz=BERLIN,
        shifts=(
            ShiftPattern("Early", time(6), 480),
            ShiftPattern("Late", time(14), 480),
            ShiftPattern("Night", time(22), 480),
        ),
        breaks=(BreakPattern("Early", 240, 30), BreakPattern("Night", 240, 30)),
        **kwargs,
    )


def spans(shifts) -> list[tuple[str, date, datetime, datetime]]:
    return [(s.name, s.date, s.start, s.end) for s in shifts]


def test_an_ordinary_summer_day_has_four_shifts_touching_it_the_night_ones_crossing_midnight():
    # Tuesday 9 June 2026, CEST (UTC+2): the local day is 8 June 22:00Z to 9 June 22:00Z.
    day = local_day(three_shifts(), date(2026, 6, 9))
    assert (day.start, day.end, day.seconds) == (utc(2026, 6, 8, 22), utc(2026, 6, 9, 22), 24 * HOUR)
    assert spans(calendar_shifts(three_shifts(), start=day.start, end=day.end)) == [
        ("Night", date(2026, 6, 8), utc(2026, 6, 8, 20), utc(2026, 6, 9, 4)),  # Mon 22:00 to Tue 06:00 local
        ("Early", date(2026, 6, 9), utc(2026, 6, 9, 4), utc(2026, 6, 9, 12)),
        ("Late", date(2026, 6, 9), utc(2026, 6, 9, 12), utc(2026, 6, 9, 20)),
        ("Night", date(2026, 6, 9), utc(2026, 6, 9, 20), utc(2026, 6, 10, 4)),  # into Wednesday
    ]


def test_breaks_are_wall_clock_offsets_from_the_shift_start():
    shifts = calendar_shifts(three_shifts(), start=utc(2026, 6, 9, 4), end=utc(2026, 6, 9, 5))
    (early,) = shifts
    # Early starts 06:00 CEST = 04:00Z; its break at +240 min = 10:00 CEST = 08:00Z, 30 minutes.
    assert [(b.start, b.end, b.planned) for b in early.breaks] == [(utc(2026, 6, 9, 8), utc(2026, 6, 9, 8, 30), True)]
    assert early.planned_breaks == early.breaks


def test_spring_forward_night_shift_lasts_seven_hours_and_ends_at_its_wall_clock_end():
    calendar = three_shifts()
    (night,) = calendar_shifts(calendar, start=utc(2026, 3, 28, 23), end=utc(2026, 3, 28, 23, 1))
    # Saturday 28 March 22:00 CET = 21:00Z; it ends Sunday 06:00 CEST = 04:00Z: 7 real hours for 8 on the clock.
    assert (night.name, night.date, night.start, night.end) == (
        "Night",
        date(2026, 3, 28),
        utc(2026, 3, 28, 21),
        utc(2026, 3, 29, 4),
    )
    assert night.seconds == 7 * HOUR
    # Its break at +240 min is 02:00, a time that does not exist: read with the offset before the change (CET),
    # 02:00 CET = 01:00Z (03:00 CEST), to 02:30 CET = 01:30Z: still 30 minutes.
    assert [(b.start, b.end) for b in night.breaks] == [(utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30))]


def test_fall_back_night_shift_lasts_nine_hours():
    calendar = three_shifts()
    (night,) = calendar_shifts(calendar, start=utc(2026, 10, 24, 23), end=utc(2026, 10, 24, 23, 1))
    # Saturday 24 October 22:00 CEST = 20:00Z; it ends Sunday 06:00 CET = 05:00Z: 9 real hours.
    assert (night.start, night.end, night.seconds) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5), 9 * HOUR)
    # The break at 02:00 falls in the hour that happens twice: its first occurrence, 02:00 CEST = 00:00Z.
    assert [(b.start, b.end) for b in night.breaks] == [(utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30))]


@pytest.mark.parametrize(
    ("day", "hours", "start", "end"),
    [
        (date(2026, 3, 29), 23, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),  # 00:00 CET to 00:00 CEST
        (date(2026, 10, 25), 25, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),  # 00:00 CEST to 00:00 CET
        (date(2026, 1, 15), 24, utc(2026, 1, 14, 23), utc(2026, 1, 15, 23)),
    ],
)
def test_local_days_last_23_24_or_25_hours(day, hours, start, end):
    period = local_day(three_shifts(), day)
    assert (period.start, period.end, period.seconds) == (start, end, hours * HOUR)


def test_a_24_hour_pattern_covers_the_local_day_on_dst_days():
    calendar = Calendar(tz=BERLIN, shifts=(ShiftPattern("Day", time(0), 24 * 60),))
    for day, hours in ((date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 3, 30), 24)):
        period = local_day(calendar, day)
        assert [(s.date, s.seconds) for s in calendar_shifts(calendar, start=period.start, end=period.end)] == [
            (day, hours * HOUR)
        ]


def test_the_spring_forward_day_shifts_cover_23_hours_without_gap_or_overlap():
    calendar = three_shifts()
    day = local_day(calendar, date(2026, 3, 29))
    shifts = calendar_shifts(calendar, start=day.start, end=day.end)
    # Night of the 28th (21:00Z-04:00Z), Early 04:00Z-12:00Z, Late 12:00Z-20:00Z, Night of the 29th 20:00Z-04:00Z.
    assert [s.seconds / HOUR for s in shifts] == [7, 8, 8, 8]
    assert all(before.end == after.start for before, after in pairwise(shifts))
    assert non_scheduled(calendar, start=day.start, end=day.end) == []


def test_shift_at_an_instant_includes_the_start_and_excludes_the_end():
    calendar = three_shifts()
    night = shift_at(calendar, utc(2026, 3, 29, 3, 59))
    assert night is not None
    assert (night.name, night.date) == ("Night", date(2026, 3, 28))
    early = shift_at(calendar, utc(2026, 3, 29, 4))  # 06:00 CEST: the night's end, the early shift's start
    assert early is not None
    assert (early.name, early.date) == ("Early", date(2026, 3, 29))
    # In the repeated hour of 25 October: 02:30 CET = 01:30Z, still the night shift of the 24th.
    late_night = shift_at(calendar, utc(2026, 10, 25, 1, 30))
    assert late_night is not None
    assert (late_night.name, late_night.date) == ("Night", date(2026, 10, 24))


def test_a_holiday_removes_the_shifts_that_start_on_it_not_the_night_running_into_it():
    calendar = three_shifts(holidays=frozenset({date(2026, 12, 25)}))
    day = local_day(calendar, date(2026, 12, 25))  # 24 Dec 23:00Z to 25 Dec 23:00Z (CET)
    shifts = calendar_shifts(calendar, start=day.start, end=day.end)
    # Only the night of the 24th (24 Dec 21:00Z to 25 Dec 05:00Z); the 25th's own Early, Late and Night are gone.
    assert spans(shifts) == [("Night", date(2026, 12, 24), utc(2026, 12, 24, 21), utc(2026, 12, 25, 5))]
    # Non-scheduled: 06:00 to midnight local = 05:00Z to 23:00Z, 18 hours.
    assert non_scheduled(calendar, start=day.start, end=day.end) == [Period(utc(2026, 12, 25, 5), day.end)]
    assert shift_at(calendar, utc(2026, 12, 25, 12)) is None


def test_weekdays_leave_the_weekend_non_scheduled():
    calendar = Calendar(
        tz=BERLIN,
        shifts=(ShiftPattern("Early", time(6), 480, WEEKDAYS), ShiftPattern("Late", time(14), 480, WEEKDAYS)),
    )
    # Friday 12 June to Monday 15 June 2026 (CEST): Friday's two shifts, then Monday's early one.
    shifts = calendar_shifts(calendar, start=utc(2026, 6, 12, 0), end=utc(2026, 6, 15, 6))
    assert spans(shifts) == [
        ("Early", date(2026, 6, 12), utc(2026, 6, 12, 4), utc(2026, 6, 12, 12)),
        ("Late", date(2026, 6, 12), utc(2026, 6, 12, 12), utc(2026, 6, 12, 20)),
        ("Early", date(2026, 6, 15), utc(2026, 6, 15, 4), utc(2026, 6, 15, 12)),
    ]
    gaps = non_scheduled(calendar, start=utc(2026, 6, 12, 0), end=utc(2026, 6, 15, 6))
    assert gaps == [
        Period(utc(2026, 6, 12, 0), utc(2026, 6, 12, 4)),
        Period(utc(2026, 6, 12, 20), utc(2026, 6, 15, 4)),  # Friday 22:00 to Monday 06:00 local: 56 hours
    ]
    assert gaps[1].seconds == 56 * HOUR


def test_shifts_cut_by_the_range_are_returned_whole():
    (late,) = calendar_shifts(three_shifts(), start=utc(2026, 6, 9, 13), end=utc(2026, 6, 9, 14))
    assert (late.name, late.start, late.end) == ("Late", utc(2026, 6, 9, 12), utc(2026, 6, 9, 20))
    assert calendar_shifts(three_shifts(), start=utc(2026, 6, 9, 14), end=utc(2026, 6, 9, 14)) == []


def test_overlapping_shift_patterns_are_refused():
    calendar = Calendar(tz=BERLIN, shifts=(ShiftPattern("A", time(6), 600), ShiftPattern("B", time(14), 480)))
    with pytest.raises(ValueError, match="shifts overlap: A of 2026-06-09"):
        calendar_shifts(calendar, start=utc(2026, 6, 9, 0), end=utc(2026, 6, 10, 0))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ShiftPattern("A", time(6), 0), "duration"),
        (lambda: ShiftPattern("A", time(6), 24 * 60 + 1), "duration"),
        (lambda: ShiftPattern("A", time(6), 60, frozenset({7})), "weekdays"),
        (lambda: ShiftPattern("A", time(6, tzinfo=UTC), 60), "wall-clock"),
        (lambda: BreakPattern("A", -1, 10), "offset"),
        (lambda: Calendar(tz=BERLIN, shifts=(ShiftPattern("A", time(6), 60),) * 2), "unique"),
        (lambda: Calendar(tz=BERLIN, shifts=(), breaks=(BreakPattern("A", 0, 10),)), "unknown shift"),
        (
            lambda: Calendar(tz=BERLIN, shifts=(ShiftPattern("A", time(6), 60),), breaks=(BreakPattern("A", 50, 11),)),
            "ends after the shift",
        ),
    ],
)
def test_invalid_calendars_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        calendar_shifts(three_shifts(), start=datetime(2026, 6, 9), end=utc(2026, 6, 10))
    with pytest.raises(ValueError, match="aware"):
        shift_at(three_shifts(), datetime(2026, 6, 9))


def test_period_arithmetic():
    t = [utc(2026, 1, 1, h) for h in range(10)]
    assert periods_union([Period(t[3], t[5]), Period(t[0], t[2]), Period(t[2], t[3]), Period(t[7], t[7])]) == [
        Period(t[0], t[5])
    ]
    assert periods_intersect([Period(t[0], t[4]), Period(t[6], t[9])], [Period(t[3], t[7])]) == [
        Period(t[3], t[4]),
        Period(t[6], t[7]),
    ]
    assert periods_subtract([Period(t[0], t[9])], [Period(t[1], t[2]), Period(t[8], t[9] + timedelta(hours=1))]) == [
        Period(t[0], t[1]),
        Period(t[2], t[8]),
    ]
    assert periods_seconds([Period(t[0], t[2]), Period(t[1], t[3])]) == 3 * HOUR
