"""Shift calendars in the plant's time zone, in plain Python (no database, no Django), so they can be tested to the
minute on the days that break naive code: shifts that cross midnight and the two DST days of 23 and 25 hours.

A calendar is a set of shift patterns ("Night starts 22:00, lasts 480 minutes, Monday to Friday"), the breaks of
each shift, the plant's non-working days and its time zone. `calendar_shifts` expands it over a UTC range into
concrete shifts with their breaks, as aware UTC datetimes; everything outside the shifts is non-scheduled time.

Wall clock, not elapsed time. Plant practice is that a shift ends at its wall-clock end: the night shift of
22:00-06:00 ends at 06:00 whatever the clocks did in between. So a shift's (and a break's) start and end are
local wall-clock times, converted to UTC one by one; `duration_minutes` is the wall-clock length. On the night the
clocks go forward (Europe/Berlin, last Sunday of March, 02:00 -> 03:00) that night shift lasts 7 real hours; on
the night they go back (last Sunday of October, 03:00 -> 02:00) it lasts 9. A 24 h pattern covers a local day of
23, 24 or 25 hours. Consecutive shifts keep sharing their boundary instant, so no time falls between two shifts
and none is counted twice.

Local times that do not exist or exist twice are read as PEP 495's `fold=0` does: a time in the spring-forward
gap (02:30) is taken with the offset before the change, i.e. it moves forward by the gap (02:30 CET = 03:30 CEST);
a time that occurs twice in the fall-back hour is its first occurrence (summer time).

A non-working day (holiday) removes the shifts that *start* on it (local date); a night shift starting the
evening before a holiday still runs into it, and the holiday's own night shift does not.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

#: Monday to Friday, as `date.weekday()` numbers them (Monday = 0).
WEEKDAYS: frozenset[int] = frozenset(range(5))
EVERY_DAY: frozenset[int] = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class ShiftPattern:
    """A shift that repeats: it starts at `start` (local wall clock) on each of `weekdays` (Monday = 0) and lasts
    `duration_minutes` of wall clock."""

    name: str
    start: time
    duration_minutes: int
    weekdays: frozenset[int] = EVERY_DAY

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a shift pattern needs a name")
        if self.start.tzinfo is not None:
            raise ValueError(f"shift {self.name!r}: the start is a local wall-clock time, without a time zone")
        if not 0 < self.duration_minutes <= 24 * 60:
            raise ValueError(f"shift {self.name!r}: the duration must be between 1 minute and 24 hours")
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise ValueError(f"shift {self.name!r}: weekdays are 0 (Monday) to 6 (Sunday), at least one")


@dataclass(frozen=True, slots=True)
class BreakPattern:
    """A break of the shift named `shift`, `offset_minutes` of wall clock after the shift's start.

    A planned break is planned downtime (ISO 22400-2: it is not planned busy time). An unplanned one (`planned`
    False, e.g. a staggered break during which a relief crew keeps the machine running) is only shown."""

    shift: str
    offset_minutes: int
    duration_minutes: int
    planned: bool = True

    def __post_init__(self) -> None:
        if self.offset_minutes < 0 or self.duration_minutes <= 0:
            raise ValueError(f"break of {self.shift!r}: the offset must be >= 0 and the duration > 0")


@dataclass(frozen=True, slots=True)
class Calendar:
    """A plant's shift calendar: patterns, breaks, non-working days, in the plant's time zone."""

    tz: ZoneInfo
    shifts: tuple[ShiftPattern, ...]
    breaks: tuple[BreakPattern, ...] = ()
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        names = [pattern.name for pattern in self.shifts]
        if len(set(names)) != len(names):
            raise ValueError(f"shift names must be unique: {names}")
        by_name = {pattern.name: pattern for pattern in self.shifts}
        for pause in self.breaks:
            pattern = by_name.get(pause.shift)
            if pattern is None:
                raise ValueError(f"a break refers to the unknown shift {pause.shift!r}")
            if pause.offset_minutes + pause.duration_minutes > pattern.duration_minutes:
                raise ValueError(f"a break of {pause.shift!r} ends after the shift")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open stretch of time [start, end), aware datetimes."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class ShiftBreak:
    start: datetime
    end: datetime
    planned: bool

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Shift:
    """One concrete shift: its pattern's name, the local date it starts on, its start and end in UTC."""

    name: str
    date: date
    start: datetime
    end: datetime
    breaks: tuple[ShiftBreak, ...] = field(default=())

    @property
    def seconds(self) -> float:
        """Its real (elapsed) length: 7 or 9 hours for an 8-hour night shift on a DST night."""
        return (self.end - self.start).total_seconds()

    @property
    def planned_breaks(self) -> tuple[ShiftBreak, ...]:
        return tuple(pause for pause in self.breaks if pause.planned)


def local_to_utc(tz: ZoneInfo, local: datetime) -> datetime:
    """A naive local wall-clock time in `tz` as an aware UTC datetime (fold=0: see the module docstring)."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _require_aware(*instants: datetime) -> None:
    for instant in instants:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"expected an aware datetime, got {instant!r}")


def _shift_on(calendar: Calendar, pattern: ShiftPattern, day: date) -> Shift:
    local_start = datetime.combine(day, pattern.start)
    breaks = tuple(
        ShiftBreak(
            start=local_to_utc(calendar.tz, local_start + timedelta(minutes=pause.offset_minutes)),
            end=local_to_utc(
                calendar.tz, local_start + timedelta(minutes=pause.offset_minutes + pause.duration_minutes)
            ),
            planned=pause.planned,
        )
        for pause in calendar.breaks
        if pause.shift == pattern.name
    )
    return Shift(
        name=pattern.name,
        date=day,
        start=local_to_utc(calendar.tz, local_start),
        end=local_to_utc(calendar.tz, local_start + timedelta(minutes=pattern.duration_minutes)),
        breaks=tuple(sorted(breaks, key=lambda pause: pause.start)),
    )


def calendar_shifts(calendar: Calendar, *, start: datetime, end: datetime) -> list[Shift]:
    """The whole shifts that overlap [start, end), in time order (a shift cut by the range is returned whole).

    Raises ValueError if two shifts of the calendar overlap: each instant belongs to at most one shift, or
    planned time would be counted twice."""
    _require_aware(start, end)
    if end <= start:
        return []
    first = start.astimezone(calendar.tz).date() - timedelta(days=1)  # yesterday's night shift may reach into range
    last = end.astimezone(calendar.tz).date()
    shifts: list[Shift] = []
    day = first
    while day <= last:
        if day not in calendar.holidays:
            for pattern in calendar.shifts:
                if day.weekday() in pattern.weekdays:
                    shift = _shift_on(calendar, pattern, day)
                    if shift.end > start and shift.start < end and shift.end > shift.start:
                        shifts.append(shift)
        day += timedelta(days=1)
    shifts.sort(key=lambda shift: shift.start)
    for before, after in pairwise(shifts):
        if after.start < before.end:
            raise ValueError(
                f"shifts overlap: {before.name} of {before.date} ({before.start:%Y-%m-%d %H:%M}Z-"
                f"{before.end:%H:%M}Z) and {after.name} of {after.date} (from {after.start:%Y-%m-%d %H:%M}Z)"
            )
    return shifts


def shift_at(calendar: Calendar, instant: datetime) -> Shift | None:
    """The shift that contains `instant` (start included, end excluded), or None in non-scheduled time."""
    _require_aware(instant)
    for shift in calendar_shifts(calendar, start=instant, end=instant + timedelta(microseconds=1)):
        if shift.start <= instant < shift.end:
            return shift
    return None


def non_scheduled(calendar: Calendar, *, start: datetime, end: datetime) -> list[Period]:
    """The parts of [start, end) outside every shift (holidays, weekends, the gaps between shifts)."""
    _require_aware(start, end)
    shifts = calendar_shifts(calendar, start=start, end=end)
    return periods_subtract([Period(start, end)], [Period(shift.start, shift.end) for shift in shifts])


def local_day(calendar: Calendar, day: date) -> Period:
    """A local calendar day, midnight to midnight in the plant's time zone: 23, 24 or 25 hours."""
    midnight = datetime.combine(day, time())
    return Period(local_to_utc(calendar.tz, midnight), local_to_utc(calendar.tz, midnight + timedelta(days=1)))


# -- sets of periods: the arithmetic the KPIs are made of ----------------------------------------------------------


def periods_union(periods: Iterable[Period]) -> list[Period]:
    """Sorted, merged (touching periods join), empty ones dropped."""
    merged: list[Period] = []
    for period in sorted((p for p in periods if p.end > p.start), key=lambda p: p.start):
        if merged and period.start <= merged[-1].end:
            if period.end > merged[-1].end:
                merged[-1] = Period(merged[-1].start, period.end)
        else:
            merged.append(period)
    return merged


def periods_intersect(first: Sequence[Period], second: Sequence[Period]) -> list[Period]:
    """The instants in both (each side is merged first)."""
    a, b = periods_union(first), periods_union(second)
    result: list[Period] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if lo < hi:
            result.append(Period(lo, hi))
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1
    return result


def periods_subtract(base: Sequence[Period], cut: Sequence[Period]) -> list[Period]:
    """The instants of `base` not in `cut` (one pass over both, merged first)."""
    result: list[Period] = []
    holes = periods_union(cut)
    j = 0
    for period in periods_union(base):
        while j < len(holes) and holes[j].end <= period.start:
            j += 1
        cursor = period.start
        k = j
        while k < len(holes) and holes[k].start < period.end:
            if holes[k].start > cursor:
                result.append(Period(cursor, holes[k].start))
            cursor = max(cursor, holes[k].end)
            k += 1
        if cursor < period.end:
            result.append(Period(cursor, period.end))
    return result


def periods_clip(period: Period, segments: Sequence[Period], ends: Sequence[datetime] | None = None) -> list[Period]:
    """`period` clipped to merged, sorted `segments` (as `periods_union` returns them), found by bisection: cheap
    for one period against a long list. `ends`, the segments' ends, may be passed when clipping many periods."""
    ends = ends if ends is not None else [segment.end for segment in segments]
    pieces: list[Period] = []
    for segment in segments[bisect_right(ends, period.start) :]:
        if segment.start >= period.end:
            break
        lo, hi = max(segment.start, period.start), min(segment.end, period.end)
        if lo < hi:
            pieces.append(Period(lo, hi))
    return pieces


def periods_seconds(periods: Iterable[Period]) -> float:
    """The total length of merged periods, in seconds."""
    return sum(period.seconds for period in periods_union(periods))
