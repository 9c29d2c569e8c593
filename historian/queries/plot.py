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
        statement = _ROLLUP_PLOT.format(origin=sql.Literal(ORIGIN), buckets=buckets)
        cursor.execute(statement, [width, source.width / 2, *params, start])
        return PlotValues(source, width, _points(cursor, ids, start))


def _raw_plot(cursor, tag_ids: list[int], start: datetime, end: datetime, width: timedelta) -> dict[int, list[Point]]:
    """Per pixel, [seconds from start, value] pairs of the first, lowest (earliest if tied), highest (earliest if
    tied) and last usable sample, and the first other one.

    Each tag's samples come as three binary arrays in time order, loaded by numpy and bucketed by it: a day of 1 s
    samples is 86,400 rows, and the same per-pixel answer computed by SQL aggregates (an array built and compared
    per row) took 2.8 times as long as a naive date_bin query that answers less (bench/query.py)."""
    numpy_array_loaders(cursor)
    cursor.execute(_RAW_ARRAYS, [tag_ids, start, end])
    origin = datetime_to_us(start) - PG_EPOCH_US
    width_us = max(width // timedelta(microseconds=1), 1)
    rows: list[tuple] = []
    for tag_id, times, values, qualities in cursor:
        rows.extend(_pixel_rows(tag_id, times - origin, values, qualities, width_us))
    return _points(rows, tag_ids, start)


_RAW_ARRAYS = sql.SQL(
    "SELECT tag_id, array_agg(time ORDER BY time), array_agg(coalesce(value, 'NaN'::float8) ORDER BY time), "
    "array_agg(quality ORDER BY time) FROM {table} WHERE tag_id = ANY(%s::int4[]) AND time >= %s AND time < %s "
    "GROUP BY tag_id ORDER BY tag_id"
).format(table=sql.Identifier(SAMPLE_TABLE))


def _pixel_rows(tag_id: int, offsets: np.ndarray, values: np.ndarray, qualities: np.ndarray, width_us: int) -> list:
    """One tag's samples (time order; offsets in µs from the start) as _points' per-pixel rows."""
    pixels = offsets // width_us
    seconds = offsets / 1e6
    good = ((qualities & 192) == 192) & np.isfinite(values)
    found: dict[int, list] = {}
    if good.any():
        g_pixels, g_seconds, g_values = pixels[good], seconds[good], values[good]
        starts = np.flatnonzero(np.r_[True, g_pixels[1:] != g_pixels[:-1]])
        stops = np.r_[starts[1:], len(g_pixels)] - 1
        counts = stops - starts + 1
        low = _first_equal(g_values, np.minimum.reduceat(g_values, starts), starts, counts)
        high = _first_equal(g_values, np.maximum.reduceat(g_values, starts), starts, counts)
        for pixel, first_t, first_v, low_v, low_t, high_v, high_t, last_t, last_v in zip(
            *(a.tolist() for a in (g_pixels[starts], g_seconds[starts], g_values[starts])),
            *(a.tolist() for a in (g_values[low], g_seconds[low], g_values[high], g_seconds[high])),
            *(a.tolist() for a in (g_seconds[stops], g_values[stops])),
            strict=True,
        ):
            found[pixel] = [[first_t, first_v], [low_v, low_t], [high_v, -high_t], [last_t, last_v], None]
    bad = ~good
    if bad.any():
        b_pixels, b_seconds, b_qualities = pixels[bad], seconds[bad], qualities[bad]
        starts = np.flatnonzero(np.r_[True, b_pixels[1:] != b_pixels[:-1]])
        for pixel, t, q in zip(
            b_pixels[starts].tolist(), b_seconds[starts].tolist(), b_qualities[starts].tolist(), strict=True
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


# Per pixel from rollup buckets: first / last at their times, min / max at their bucket's middle (clamped between its
# first and last sample), bad samples (quality unknown: BAD) just after the bucket's last good one, or at its start.
_ROLLUP_PLOT = sql.SQL(
    "SELECT tag_id, pixel, min(ARRAY[tf, first_value]) FILTER (WHERE n > 0), min(ARRAY[low, tm]) FILTER (WHERE n > 0), "
    "max(ARRAY[high, -tm]) FILTER (WHERE n > 0), max(ARRAY[tl, last_value]) FILTER (WHERE n > 0), "
    "min(ARRAY[tb, 0]) FILTER (WHERE bad_count > 0) "
    "FROM (SELECT b.tag_id, date_bin(%s::interval, b.bucket, {origin}) AS pixel, b.sample_count AS n, b.bad_count, "
    "b.low, b.high, b.first_value, b.last_value, extract(epoch FROM b.first_time - o.t)::float8 AS tf, "
    "extract(epoch FROM least(greatest(b.bucket + %s::interval, b.first_time), b.last_time) - o.t)::float8 AS tm, "
    "extract(epoch FROM b.last_time - o.t)::float8 AS tl, extract(epoch FROM CASE WHEN b.sample_count > 0 "
    "THEN b.last_time + interval '1 microsecond' ELSE b.bucket END - o.t)::float8 AS tb "
    "FROM ({buckets}) AS b(tag_id, bucket, sample_count, low, high, total, total_sq, first_time, first_value, "
    "last_time, last_value, bad_count) CROSS JOIN (SELECT %s::timestamptz AS t) AS o) AS s "
    "GROUP BY 1, 2 ORDER BY 1, 2"
)
