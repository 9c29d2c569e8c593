"""Values between samples: at one moment, or at every step of an interval.

Between two usable samples a linear tag is interpolated on the straight line joining them, a step tag holds the
earlier value. Nothing is interpolated across a bad sample (any sample that is not usable, see common): from a bad
sample to the next usable one the value is unknown (None, with the bad sample's quality), and so, for a linear tag,
is the stretch from a usable sample to a bad one.
After a tag's newest sample its value holds (historians store on change, so no new sample means no change).
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from historian.quality import Quality

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


def value_at(*, tag_ids: Sequence[int], at: datetime) -> dict[int, Point]:
    """Each tag's value at `at` (a time zone-aware datetime); Point(at, None, BAD) before its first sample."""
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise HistoryQueryError("at must be a datetime with a time zone.")
    tags = tag_readings(tag_ids)
    with read_cursor() as cursor:
        # before: newest sample with time < at + 1 us, i.e. time <= at; after: oldest with time > at.
        edges = fetch_boundaries(
            cursor, tag_ids=list(tags), before=at + timedelta(microseconds=1), after=at + timedelta(microseconds=1)
        )
    return {
        tag_id: interpolate([p for p in edges[tag_id] if p is not None], [at], tag)[0] for tag_id, tag in tags.items()
    }


def interpolated_values(
    *, tag_ids: Sequence[int], start: datetime, end: datetime, interval: timedelta
) -> dict[int, list[Point]]:
    """Each tag's value at start, start + interval, ... up to and including end.

    Reads the raw samples of the range, so a tag with more than 100,000 samples in it is a HistoryQueryError:
    over long ranges ask for time-weighted averages (aggregates) or plot values, which use the rollups.
    """
    check_range(start, end)
    count = check_intervals(start=start, end=end, interval=interval)
    times = [start + k * interval for k in range(count + 1)]
    if times[-1] > end:
        times.pop()
    tags = tag_readings(tag_ids)
    check_volume(tags=len(tags), per_tag=len(times), what="intervals")
    stop = end + timedelta(microseconds=1)
    with read_cursor() as cursor:
        raw = fetch_raw(cursor, tag_ids=list(tags), start=start, end=stop, limit=MAX_RAW_POINTS)
        edges = fetch_boundaries(cursor, tag_ids=list(tags), before=start, after=stop)
    result = {}
    for tag_id, tag in tags.items():
        if len(raw[tag_id]) > MAX_RAW_POINTS:
            raise HistoryQueryError(
                f"Tag {tag_id} has more than {MAX_RAW_POINTS} samples between {start:%Y-%m-%d %H:%M:%S} and "
                f"{end:%Y-%m-%d %H:%M:%S}: too many to interpolate; ask for a shorter range, or for time-weighted "
                "averages (aggregates) or plot values."
            )
        before, after = edges[tag_id]
        samples = ([before] if before else []) + raw[tag_id] + ([after] if after else [])
        result[tag_id] = interpolate(samples, times, tag)
    return result


def interpolate(samples: Sequence[Point], times: Sequence[datetime], tag: TagReading) -> list[Point]:
    """The tag's value at each of `times` (ascending) from its `samples` (ascending, any quality)."""
    result = []
    i = -1  # index of the newest sample at or before the current time
    for at in times:
        while i + 1 < len(samples) and samples[i + 1].time <= at:
            i += 1
        if i < 0:
            result.append(Point(at, None, Quality.BAD))
            continue
        prev = samples[i]
        following = samples[i + 1] if i + 1 < len(samples) else None
        prev_value = usable_value(prev)
        following_value = usable_value(following) if following is not None else None
        if prev_value is None:
            result.append(Point(at, None, prev.quality))
        elif prev.time == at or not tag.linear or following is None:
            result.append(Point(at, prev_value, prev.quality))
        elif following_value is None:
            result.append(Point(at, None, following.quality))
        else:
            fraction = (at - prev.time) / (following.time - prev.time)
            value = prev_value + (following_value - prev_value) * fraction
            result.append(Point(at, value, min(prev.quality, following.quality)))
    return result
