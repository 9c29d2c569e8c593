"""Plot values: what a chart N pixels wide needs to draw a range faithfully, like PI's PlotValues.

The range is cut into buckets about one pixel wide; each bucket gives its first, lowest, highest and last usable
sample (at most four points, in time order), so every spike survives however long the range, and a point with value
None where bad samples are (the chart breaks its line there). Short ranges read raw samples, one bucket per pixel
exactly; long ones read a rollup (see resolution for the rule), with buckets a whole number of rollup buckets wide,
aligned on them, so that there may be one bucket more than pixels. From a rollup, first and last carry their exact
times and min / max carry the time of their rollup bucket's middle (clamped between its first and last sample).
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
from psycopg import sql

from historian.quality import Quality
from historian.sample_types import PG_EPOCH_US, SAMPLE_TABLE, datetime_to_us, numpy_array_loaders

from .common import MAX_PIXELS, Point, check_range, check_volume, read_cursor, tag_readings
from .errors import HistoryQueryError
from .resolution import ORIGIN, RAW, Resolution, buckets_query, check_resolution, resolution_for


class PlotValues(NamedTuple):
    resolution: Resolution
    bucket_width: timedelta
    series: dict[int, list[Point]]


def plot_values(
    *, tag_ids: Sequence[int], start: datetime, end: datetime, pixels: int, resolution: Resolution | None = None
) -> PlotValues:
    """Per tag, the points to draw [start, end) on a chart `pixels` wide, in time order."""
    check_range(start, end)
    if isinstance(pixels, bool) or not isinstance(pixels, int) or not 0 < pixels <= MAX_PIXELS:
        raise HistoryQueryError(f"pixels must be a whole number between 1 and {MAX_PIXELS}, not {pixels}.")
    check_resolution(resolution)
    tags = tag_readings(tag_ids)
    check_volume(tags=len(tags), per_tag=4 * pixels, what="points (4 per pixel)")
    source = resolution or resolution_for(start=start, end=end)
    ids = list(tags)
    if source is RAW:
        width = max((end - start) / pixels, timedelta(microseconds=1))
        with read_cursor() as cursor:
            return PlotValues(source, width, _raw_plot(cursor, ids, start, end, width))
    assert source.width is not None
    rollups = -(-(end - start) // (source.width * pixels))
    width = source.width * max(rollups, 1)
    with read_cursor() as cursor:
        query = buckets_query(cursor, tag_ids=ids, start=start, end=end, resolution=source)
        if query is None:
            return PlotValues(source, width, {tag_id: [] for tag_id in ids})
        buckets, params = query
        return PlotValues(source, width, _rollup_plot(cursor, ids, start, width, source.width, buckets, params))


def _raw_plot(cursor, tag_ids: list[int], start: datetime, end: datetime, width: timedelta) -> dict[int, list[Point]]:
    """Per pixel, [seconds from start, value] pairs of the first, lowest (earliest if tied), highest (earliest if
    tied) and last usable sample, and the first other one.

    Each tag's samples come as three binary arrays in time order, loaded by numpy and bucketed by it: a day of 1 s
    samples is 86,400 rows, and the same per-pixel answer computed by SQL aggregates (an array built and compared
    per row) took 2.8 times as long as a naive date_bin query that answers less (bench/query.py)."""
    numpy_array_loaders(cursor)
    cursor.execute(_RAW_ARRAYS, [tag_ids, start, end])
    at = datetime_to_us(start) - PG_EPOCH_US
    width_us = max(width // _US, 1)
    rows: list[tuple] = []
    for tag_id, times, values, qualities in cursor:
        offsets = times - at
        seconds = offsets / 1e6
        good = ((qualities & 192) == 192) & np.isfinite(values)
        columns = _Columns(seconds, values, seconds, values, seconds, values, seconds, values, seconds, qualities)
        rows.extend(_pixel_rows(tag_id, offsets // width_us, good, ~good, columns))
    return _points(rows, tag_ids, start)


_RAW_ARRAYS = sql.SQL(
    "SELECT tag_id, array_agg(time ORDER BY time), array_agg(coalesce(value, 'NaN'::float8) ORDER BY time), "
    "array_agg(quality ORDER BY time) FROM {table} WHERE tag_id = ANY(%s::int4[]) AND time >= %s AND time < %s "
    "GROUP BY tag_id ORDER BY tag_id"
).format(table=sql.Identifier(SAMPLE_TABLE))


def _rollup_plot(
    cursor,
    tag_ids: list[int],
    start: datetime,
    width: timedelta,
    bucket_width: timedelta,
    buckets: sql.Composable,
    params: list,
) -> dict[int, list[Point]]:
    """The same per pixel from rollup buckets: first / last at their times, min / max at their bucket's middle
    (clamped between its first and last sample), bad samples (quality unknown: BAD) just after the bucket's last
    good one, or at its start. Pixels are whole numbers of buckets, aligned on ORIGIN."""
    numpy_array_loaders(cursor)
    cursor.execute(_ROLLUP_ARRAYS.format(buckets=buckets), params)
    at = datetime_to_us(start) - PG_EPOCH_US
    origin = datetime_to_us(ORIGIN) - PG_EPOCH_US
    width_us, half = width // _US, bucket_width // _US // 2
    rows: list[tuple] = []
    for tag_id, bucket, count, low, high, first_time, first_value, last_time, last_value, bad_count in cursor:
        middle = (np.minimum(np.maximum(bucket + half, first_time), last_time) - at) / 1e6
        bad_time = (np.where(count > 0, last_time + 1, bucket) - at) / 1e6
        columns = _Columns(
            (first_time - at) / 1e6, first_value, middle, low, middle, high, (last_time - at) / 1e6, last_value,
            bad_time, np.zeros(len(bucket), dtype=np.int16),
        )  # fmt: skip
        rows.extend(_pixel_rows(tag_id, (bucket - origin) // width_us, count > 0, bad_count > 0, columns))
    return _points(rows, tag_ids, start)


_ROLLUP_ARRAYS = sql.SQL(
    "SELECT tag_id, array_agg(bucket ORDER BY bucket), array_agg(sample_count::int4 ORDER BY bucket), "
    "array_agg(coalesce(low, 'NaN') ORDER BY bucket), array_agg(coalesce(high, 'NaN') ORDER BY bucket), "
    "array_agg(coalesce(first_time, bucket) ORDER BY bucket), array_agg(coalesce(first_value, 'NaN') ORDER BY bucket), "
    "array_agg(coalesce(last_time, bucket) ORDER BY bucket), array_agg(coalesce(last_value, 'NaN') ORDER BY bucket), "
    "array_agg(bad_count::int4 ORDER BY bucket) "
    "FROM ({buckets}) AS b(tag_id, bucket, sample_count, low, high, total, total_sq, first_time, first_value, "
    "last_time, last_value, bad_count) GROUP BY tag_id ORDER BY tag_id"
)
_US = timedelta(microseconds=1)


class _Columns(NamedTuple):
    """Per row of one tag (a sample, or a rollup bucket), in time order: the time (seconds from the plot's start)
    and value each row offers as its first, lowest, highest and last point, and its unusable point's time and
    quality."""

    first_t: np.ndarray
    first_v: np.ndarray
    low_t: np.ndarray
    low_v: np.ndarray
    high_t: np.ndarray
    high_v: np.ndarray
    last_t: np.ndarray
    last_v: np.ndarray
    bad_t: np.ndarray
    bad_q: np.ndarray


def _pixel_rows(tag_id: int, pixels: np.ndarray, good: np.ndarray, bad: np.ndarray, columns: _Columns) -> list:
    """One tag's rows (time order) as _points' per-pixel rows: per pixel, the first row's first point, the lowest
    and the highest (the earliest row if tied), the last row's last point, among the `good` rows; and the first
    `bad` row's unusable point."""
    c = columns
    found: dict[int, list] = {}
    if good.any():
        g_pixels = pixels[good]
        starts = np.flatnonzero(np.r_[True, g_pixels[1:] != g_pixels[:-1]])
        stops = np.r_[starts[1:], len(g_pixels)] - 1
        counts = stops - starts + 1
        low_v, high_v = c.low_v[good], c.high_v[good]
        low = _first_equal(low_v, np.minimum.reduceat(low_v, starts), starts, counts)
        high = _first_equal(high_v, np.maximum.reduceat(high_v, starts), starts, counts)
        first_t, first_v, last_t, last_v = c.first_t[good], c.first_v[good], c.last_t[good], c.last_v[good]
        for pixel, ft, fv, lv, lt, hv, ht, zt, zv in zip(
            *(a.tolist() for a in (g_pixels[starts], first_t[starts], first_v[starts])),
            *(a.tolist() for a in (low_v[low], c.low_t[good][low], high_v[high], c.high_t[good][high])),
            *(a.tolist() for a in (last_t[stops], last_v[stops])),
            strict=True,
        ):
            found[pixel] = [[ft, fv], [lv, lt], [hv, -ht], [zt, zv], None]
    if bad.any():
        b_pixels = pixels[bad]
        starts = np.flatnonzero(np.r_[True, b_pixels[1:] != b_pixels[:-1]])
        for pixel, t, q in zip(
            b_pixels[starts].tolist(), c.bad_t[bad][starts].tolist(), c.bad_q[bad][starts].tolist(), strict=True
        ):
            found.setdefault(pixel, [None, None, None, None, None])[4] = [t, q]
    return [(tag_id, pixel, *found[pixel]) for pixel in sorted(found)]


def _first_equal(values: np.ndarray, targets: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per group (`starts`, `counts`), the index of the first value equal to its group's target (its min or max)."""
    hits = np.flatnonzero(values == np.repeat(targets, counts))
    return hits[np.searchsorted(hits, starts)]


def _points(rows, tag_ids: list[int], start: datetime) -> dict[int, list[Point]]:
    """Per-pixel rows (tag, pixel, first, low, high, last, bad as [seconds from start, value or quality] arrays) as
    points in time order, each sample once (the first is often the lowest too; from a rollup, min and max of a
    pixel may share a time)."""
    series: dict[int, list[Point]] = {tag_id: [] for tag_id in tag_ids}
    good = Quality.GOOD
    for tag_id, _, first, low, high, last, bad in rows:
        found: list[tuple[float, float | None, int]] = []
        if first is not None:
            found = [(first[0], first[1], good), (low[1], low[0], good), (-high[1], high[0], good)]
            found.append((last[0], last[1], good))
        if bad is not None:
            found.append((bad[0], None, int(bad[1])))
        found.sort(key=_offset)
        points = series[tag_id]
        previous = None
        for offset, value, quality in found:
            if (offset, value) != previous:
                points.append(Point(start + timedelta(seconds=offset), value, quality))
                previous = offset, value
    return series


def _offset(item: tuple) -> float:
    return item[0]
