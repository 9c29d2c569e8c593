"""Aggregates per interval: average, time-weighted average, min, max, first, last, count, standard deviation,
integral and counter increase.

Intervals are [start + k * interval, start + (k + 1) * interval), the last one cut at `end`. Only usable samples
(good quality, finite, see common) count. Event figures (count, avg, stddev (sample, n - 1), min, max, first, last)
come from the samples inside the interval. Time-weighted figures treat the tag as a function of time: on a linear
tag the straight line between consecutive usable samples (the trapezoid rule), on a step tag each value held until
the next sample (left step); a bad sample opens a gap that lasts until the next usable one (and, on a linear tag,
the stretch from a usable sample to a bad one is left out too); after the newest sample the value holds up to `end`
or now. `integral` is in value x seconds over the covered time, `time_avg` = integral / covered time. The counter
increase sums the rises between consecutive usable samples (bad ones skipped, since a counter keeps counting through
a comm failure); a rise that spans interval edges is shared out in proportion to time. A fall is a rollover when the
tag has `counter_rollover` R and wrapping (R - before + after) is less than R / 2, else a reset to 0 (the rise is
`after`).

Source (see resolution): raw samples for ranges up to 27.8 h, exact. Longer ranges read the 1-minute or 1-hour
rollup, which needs `start` on a whole minute (hour) and an interval of whole minutes (hours); event figures from
rollups are exact. The time-weighted figures and the counter increase inside each rollup bucket are estimates from
its count, sum, min, max, first and last:

- integral over [first_time, last_time] of a bucket = dt * (sum - (first + last) / 2) (linear) or dt * (sum - last)
  (step), dt = (last_time - first_time) / (count - 1): exact when the bucket's samples are evenly spaced and none
  is bad; always a weighted mean of its values times the duration, so off by at most
  (max - min) x (last_time - first_time) per bucket. Stretches between buckets are exact; a bucket with bad samples
  is taken as covered from its first to its last usable sample, and the stretch after it to the next bucket is
  left out.
- counter increase in a bucket = last - first if max = last (no fall); else one fall from max is assumed:
  R - first + last for a rollover, max - first + last for a reset. Exact with at most one fall per bucket (and, for
  a reset, values after it staying below the peak before it).
"""

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from django.utils import timezone

from .common import (
    MAX_RAW_POINTS,
    Point,
    TagReading,
    check_intervals,
    check_range,
    check_volume,
    fetch_boundaries,
    fetch_raw,
    read_cursor,
    tag_readings,
    usable_value,
)
from .errors import HistoryQueryError
from .resolution import RAW, Bucket, Resolution, check_resolution, fetch_buckets, floor_to, resolution_for

# Raw samples read for one tag's aggregates (ten per second over the longest raw range).
MAX_AGGREGATE_RAW = 10 * MAX_RAW_POINTS
_MICROSECOND = timedelta(microseconds=1)


class TimedValue(NamedTuple):
    time: datetime
    value: float


class AggregateInterval(NamedTuple):
    start: datetime
    end: datetime
    count: int  # type: ignore[assignment]  # the field's public name; it hides tuple.count, unused here
    avg: float | None
    min: float | None
    max: float | None
    stddev: float | None
    first: TimedValue | None
    last: TimedValue | None
    time_avg: float | None
    integral: float | None
    covered_seconds: float
    counter_increase: float | None
    bad_count: int


class Aggregates(NamedTuple):
    resolution: Resolution
    series: dict[int, list[AggregateInterval]]


def aggregate_values(
    *,
    tag_ids: Sequence[int],
    start: datetime,
    end: datetime,
    interval: timedelta,
    resolution: Resolution | None = None,
) -> Aggregates:
    """Every aggregate of each tag per interval; `resolution` forces a source (default: the rule in resolution)."""
    check_range(start, end)
    count = check_intervals(start=start, end=end, interval=interval)
    check_resolution(resolution)
    tags = tag_readings(tag_ids)
    check_volume(tags=len(tags), per_tag=count, what="intervals")
    source = resolution or aggregate_resolution(start=start, end=end, interval=interval)
    if source.width is not None and not _aligned(start, interval, source.width):
        raise HistoryQueryError(
            f"The {source} rollup answers only intervals of whole {_unit(source.width)}s starting on a whole "
            f"{_unit(source.width)}."
        )
    horizon = min(end, timezone.now())
    ids = list(tags)
    with read_cursor() as cursor:
        edges = fetch_boundaries(cursor, tag_ids=ids, before=start, after=end)
        if source is RAW:
            raw = fetch_raw(cursor, tag_ids=ids, start=start, end=end, limit=MAX_AGGREGATE_RAW)
        else:
            buckets = fetch_buckets(cursor, tag_ids=ids, start=start, end=end, resolution=source)
    series = {}
    for tag_id, tag in tags.items():
        before, after = edges[tag_id]
        intervals = _Intervals(start=start, end=end, interval=interval, count=count, horizon=horizon)
        if source is RAW:
            if len(raw[tag_id]) > MAX_AGGREGATE_RAW:
                raise HistoryQueryError(
                    f"Tag {tag_id} has more than {MAX_AGGREGATE_RAW} samples between {start:%Y-%m-%d %H:%M:%S} and "
                    f"{end:%Y-%m-%d %H:%M:%S}; ask for a shorter range."
                )
            intervals.add_samples(raw[tag_id], before, after, tag)
        else:
            intervals.add_buckets(buckets[tag_id], before, after, tag)
        series[tag_id] = intervals.rows()
    return Aggregates(source, series)


def aggregate_resolution(*, start: datetime, end: datetime, interval: timedelta) -> Resolution:
    """resolution_for(start, end), provided the rollup's buckets line up with the intervals, else an error."""
    wanted = resolution_for(start=start, end=end)
    if wanted.width is not None and not _aligned(start, interval, wanted.width):
        unit = _unit(wanted.width)
        raise HistoryQueryError(
            f"A range of {end - start} is aggregated from the {wanted} rollup: start on a whole {unit} and ask for "
            f"an interval of whole {unit}s, or ask for a shorter range."
        )
    return wanted


def counter_delta(before: float, after: float, rollover: float | None) -> float:
    """The increase of a counter from `before` to `after` (the module doc gives the rollover / reset rule)."""
    rise = after - before
    if rise >= 0:
        return rise
    if rollover is not None and rollover - before + after < rollover / 2:
        return rollover - before + after
    return after


def _aligned(start: datetime, interval: timedelta, width: timedelta) -> bool:
    return floor_to(start, width) == start and interval % width == timedelta(0)


def _unit(width: timedelta) -> str:
    return "hour" if width == timedelta(hours=1) else "minute"


class _Entry(NamedTuple):
    """A sample, or the first/last usable sample of a rollup bucket; `value` is None for one that is not usable;
    `inner` holds the estimated integral and counter increase of the stretch from this entry to the next (the same
    bucket's last sample)."""

    time: datetime
    value: float | None
    inner: tuple[float, float] | None = None


class _Filled(NamedTuple):
    """The figures of a rollup bucket that holds usable samples (a bucket without any has none of them)."""

    samples: int
    sum: float
    sum_sq: float
    min: float
    max: float
    first_time: datetime
    first_value: float
    last_time: datetime
    last_value: float


def _filled(bucket: Bucket) -> _Filled | None:
    """`bucket`'s figures, None if it holds no usable sample."""
    if not bucket.count:
        return None
    b = bucket
    if (
        b.sum is None
        or b.sum_sq is None
        or b.min is None
        or b.max is None
        or b.first_time is None
        or b.first_value is None
        or b.last_time is None
        or b.last_value is None
    ):
        raise HistoryQueryError(f"Rollup bucket {b.bucket} of tag {b.tag_id} counts samples but lacks their figures.")
    return _Filled(b.count, b.sum, b.sum_sq, b.min, b.max, b.first_time, b.first_value, b.last_time, b.last_value)


class _Intervals:
    def __init__(self, *, start: datetime, end: datetime, interval: timedelta, count: int, horizon: datetime):
        self.start, self.end, self.interval, self.n = start, end, interval, count
        self.length = interval.total_seconds()
        self.total = (end - start).total_seconds()
        self.horizon = (horizon - start).total_seconds()
        n = count
        self.count = [0] * n
        self.mean = [0.0] * n
        self.m2 = [0.0] * n
        self.min: list[float | None] = [None] * n
        self.max: list[float | None] = [None] * n
        self.first: list[TimedValue | None] = [None] * n
        self.last: list[TimedValue | None] = [None] * n
        self.integral = [0.0] * n
        self.covered = [0.0] * n
        self.increase = [0.0] * n
        self.increase_seen = [False] * n
        self.bad = [0] * n

    # -- positions

    def _seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()

    def _index(self, at: datetime) -> int:
        return min((at - self.start) // self.interval, self.n - 1)

    def _spread(self, a: float, b: float):
        """(k, low, high) for each interval overlapping [a, b), clipped to the range."""
        a, b = max(a, 0.0), min(b, self.total)
        if a >= b:
            return
        k = min(int(a // self.length), self.n - 1)
        while k < self.n:
            low, high = max(a, k * self.length), min(b, (k + 1) * self.length)
            if high > low:
                yield k, low, high
            if (k + 1) * self.length >= b:
                return
            k += 1

    # -- accumulation

    def _merge(self, k: int, count: int, mean: float, m2: float, low: float, high: float) -> None:
        """Chan's parallel update of count / mean / M2 (numerically stable, unlike sum of squares)."""
        total = self.count[k] + count
        delta = mean - self.mean[k]
        self.m2[k] += m2 + delta * delta * self.count[k] * count / total
        self.mean[k] += delta * count / total
        self.count[k] = total
        lowest, highest = self.min[k], self.max[k]
        self.min[k] = low if lowest is None else min(lowest, low)
        self.max[k] = high if highest is None else max(highest, high)

    def _segment(self, t0: float, v0: float, t1: float, v1: float) -> None:
        slope = (v1 - v0) / (t1 - t0) if t1 > t0 else 0.0
        for k, low, high in self._spread(t0, t1):
            at_low, at_high = v0 + slope * (low - t0), v0 + slope * (high - t0)
            self.integral[k] += (at_low + at_high) / 2 * (high - low)
            self.covered[k] += high - low

    def _rise(self, t0: float, t1: float, amount: float) -> None:
        if t1 <= t0:
            return
        for k, low, high in self._spread(t0, t1):
            self.increase[k] += amount * (high - low) / (t1 - t0)
            self.increase_seen[k] = True

    def _walk(self, entries: Sequence[_Entry], tag: TagReading) -> None:
        """Time-weighted figures and counter increase along `entries` (time order)."""
        for i, entry in enumerate(entries):
            following = entries[i + 1] if i + 1 < len(entries) else None
            t0 = self._seconds(entry.time)
            if entry.inner is not None and following is not None:
                t1 = self._seconds(following.time)
                if 0 <= t0 < self.total:
                    k = self._index(entry.time)
                    self.integral[k] += entry.inner[0]
                    self.covered[k] += t1 - t0
                    self.increase[k] += entry.inner[1]
                    self.increase_seen[k] = True
                continue
            value = entry.value
            if value is None:
                continue
            if following is None:
                self._segment(t0, value, max(t0, self.horizon), value)
                for k, _, _ in self._spread(t0, self.horizon):
                    self.increase_seen[k] = True  # a counter that holds has risen by 0
            elif not tag.linear:
                self._segment(t0, value, self._seconds(following.time), value)
            elif following.value is not None:
                self._segment(t0, value, self._seconds(following.time), following.value)
        previous: tuple[int, datetime, float] | None = None  # the last usable entry: index, time, value
        for i, entry in enumerate(entries):
            if entry.value is None:
                continue
            # A bucket's own first-to-last stretch was counted above, from its estimate.
            if previous is not None and not (previous[0] == i - 1 and entries[previous[0]].inner is not None):
                _, earlier_time, earlier_value = previous
                rise = counter_delta(earlier_value, entry.value, tag.counter_rollover)
                self._rise(self._seconds(earlier_time), self._seconds(entry.time), rise)
            previous = (i, entry.time, entry.value)

    def add_samples(self, samples: Sequence[Point], before: Point | None, after: Point | None, tag: TagReading):
        for point in samples:
            k = self._index(point.time)
            value = usable_value(point)
            if value is None:
                self.bad[k] += 1
                continue
            self._merge(k, 1, value, 0.0, value, value)
            if self.first[k] is None:
                self.first[k] = TimedValue(point.time, value)
            self.last[k] = TimedValue(point.time, value)
        edges = [before] if before else []
        entries = [_Entry(p.time, usable_value(p)) for p in [*edges, *samples, *([after] if after else [])]]
        self._walk(entries, tag)

    def add_buckets(self, buckets: Sequence[Bucket], before: Point | None, after: Point | None, tag: TagReading):
        entries = [_Entry(before.time, usable_value(before))] if before else []
        for bucket in buckets:
            k = self._index(bucket.bucket)
            self.bad[k] += bucket.bad_count
            filled = _filled(bucket)
            if filled is not None:
                mean = filled.sum / filled.samples
                m2 = max(0.0, filled.sum_sq - filled.sum * mean)
                self._merge(k, filled.samples, mean, m2, filled.min, filled.max)
                if self.first[k] is None:
                    self.first[k] = TimedValue(filled.first_time, filled.first_value)
                self.last[k] = TimedValue(filled.last_time, filled.last_value)
                if filled.samples > 1 and filled.last_time > filled.first_time:
                    entries.append(_Entry(filled.first_time, filled.first_value, _bucket_estimates(filled, tag)))
                entries.append(_Entry(filled.last_time, filled.last_value))
            if bucket.bad_count:
                at = filled.last_time + _MICROSECOND if filled is not None else bucket.bucket
                entries.append(_Entry(at, None))
        if after:
            entries.append(_Entry(after.time, usable_value(after)))
        self._walk(entries, tag)

    def rows(self) -> list[AggregateInterval]:
        result = []
        for k in range(self.n):
            low = self.start + k * self.interval
            high = min(low + self.interval, self.end)
            n = self.count[k]
            covered = self.covered[k]
            result.append(
                AggregateInterval(
                    start=low,
                    end=high,
                    count=n,
                    avg=self.mean[k] if n else None,
                    min=self.min[k],
                    max=self.max[k],
                    stddev=math.sqrt(self.m2[k] / (n - 1)) if n > 1 else None,
                    first=self.first[k],
                    last=self.last[k],
                    time_avg=self.integral[k] / covered if covered > 0 else None,
                    integral=self.integral[k] if covered > 0 else None,
                    covered_seconds=covered,
                    counter_increase=self.increase[k] if self.increase_seen[k] else None,
                    bad_count=self.bad[k],
                )
            )
        return result


def _bucket_estimates(bucket: _Filled, tag: TagReading) -> tuple[float, float]:
    """(integral, counter increase) over [first_time, last_time] of a bucket with 2+ samples (module doc)."""
    step = (bucket.last_time - bucket.first_time).total_seconds() / (bucket.samples - 1)
    if tag.linear:
        integral = step * (bucket.sum - (bucket.first_value + bucket.last_value) / 2)
    else:
        integral = step * (bucket.sum - bucket.last_value)
    if bucket.max <= bucket.last_value:
        rise = bucket.last_value - bucket.first_value
    else:
        rollover = tag.counter_rollover
        if rollover is not None and rollover - bucket.max + bucket.min < rollover / 2:
            rise = rollover - bucket.first_value + bucket.last_value
        else:
            rise = bucket.max - bucket.first_value + bucket.last_value
    return integral, rise
