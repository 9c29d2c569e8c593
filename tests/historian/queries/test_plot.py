import math
import random
from datetime import timedelta

import pytest
from psycopg import sql

from historian.quality import Quality
from historian.queries.common import read_cursor
from historian.queries.errors import HistoryQueryError
from historian.queries.plot import _points, plot_values
from historian.queries.resolution import HOUR, MINUTE, ORIGIN, RAW, buckets_query

from .conftest import T0, write

SPIKE_AT = 1234


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def spiky(make_tag):
    """Three hours of a flat 10.0 every second, but for one sample of 500.0 and one of -3.0."""
    tag = make_tag(data_type="float32")
    write(tag, [(s(t), 500.0 if t == SPIKE_AT else -3.0 if t == 7000 else 10.0) for t in range(3 * 3600)])
    return tag


def test_plot_values_keep_a_single_sample_spike(spiky):
    plot = plot_values(tag_ids=[spiky.pk], start=T0, end=s(3 * 3600), pixels=100)
    assert plot.resolution is RAW
    points = plot.series[spiky.pk]
    assert (s(SPIKE_AT), 500.0, Quality.GOOD) in points
    assert (s(7000), -3.0, Quality.GOOD) in points
    assert len(points) <= 4 * 100
    assert [p.time for p in points] == sorted(p.time for p in points)


def test_each_pixel_gives_first_min_max_last_in_time_order(make_tag):
    tag = make_tag()
    write(tag, [(s(0), 5.0), (s(1), 9.0), (s(2), 1.0), (s(3), 4.0), (s(10), 7.0)])
    plot = plot_values(tag_ids=[tag.pk], start=T0, end=s(20), pixels=2)
    assert plot.bucket_width == timedelta(seconds=10)
    assert [(p.time, p.value) for p in plot.series[tag.pk]] == [
        (s(0), 5.0),
        (s(1), 9.0),
        (s(2), 1.0),
        (s(3), 4.0),
        (s(10), 7.0),
    ]


def test_bad_samples_break_the_line(make_tag):
    tag = make_tag()
    write(tag, [(s(0), 5.0), (s(10), None, Quality.BAD_COMM_FAILURE), (s(20), 6.0)])
    points = plot_values(tag_ids=[tag.pk], start=T0, end=s(30), pixels=3).series[tag.pk]
    assert points == [(s(0), 5.0, Quality.GOOD), (s(10), None, Quality.BAD_COMM_FAILURE), (s(20), 6.0, Quality.GOOD)]


def _reference_plot(samples: list[tuple], start, width: timedelta) -> list[tuple]:
    """What a raw plot must give, computed the slow, obvious way: per pixel the first, lowest (earliest if tied),
    highest (earliest if tied) and last usable sample and the first unusable one, in time order, each once."""
    by_pixel: dict[int, list[tuple]] = {}
    for t, v, q in sorted(samples, key=lambda sample: sample[0]):
        by_pixel.setdefault((t - start) // width, []).append((t, v, q))
    points = []
    for pixel in sorted(by_pixel):
        usable = [(t, v) for t, v, q in by_pixel[pixel] if q & 192 == 192 and v is not None and math.isfinite(v)]
        other = [(t, q) for t, v, q in by_pixel[pixel] if not (q & 192 == 192 and v is not None and math.isfinite(v))]
        found = []
        if usable:
            low = min(usable, key=lambda sample: (sample[1], sample[0]))
            high = min(usable, key=lambda sample: (-sample[1], sample[0]))
            found += [(t, v, Quality.GOOD) for t, v in (usable[0], low, high, usable[-1])]
        if other:
            found.append((other[0][0], None, other[0][1]))
        found.sort(key=lambda point: point[0])
        for point in found:
            if not points or points[-1][:2] != point[:2]:
                points.append(point)
    return points


def test_raw_plots_of_several_tags_equal_the_obvious_per_pixel_answer(make_tag):
    """Random samples with ties, spikes, infinite values and bad stretches, at a pixel width that is no whole
    number of seconds: the plot of each tag equals the reference, point for point."""
    rng = random.Random(17)
    tags = [make_tag(), make_tag()]
    expected = {}
    for tag in tags:
        samples = []
        for second in range(0, 3000, rng.choice((1, 1, 2, 7))):
            at = s(second + rng.choice((0, 0.25, 0.5)))
            roll = rng.random()
            if roll < 0.04:
                samples.append((at, None, Quality.BAD_COMM_FAILURE))
            elif roll < 0.06:
                samples.append((at, rng.choice((math.inf, -math.inf)), Quality.GOOD))
            elif roll < 0.08:
                samples.append((at, 3.0, Quality.UNCERTAIN_LAST_USABLE))
            else:
                samples.append((at, float(rng.choice((1, 2, 2, 3, 5, 8, 500))), Quality.GOOD))
        write(tag, samples)
        width = (s(3000) - T0) / 137
        expected[tag.pk] = _reference_plot(samples, T0, width)

    plot = plot_values(tag_ids=[t.pk for t in tags], start=T0, end=s(3000), pixels=137)

    assert plot.resolution is RAW
    for tag in tags:
        assert [tuple(p) for p in plot.series[tag.pk]] == expected[tag.pk]
        assert len(expected[tag.pk]) > 137  # most pixels give several points


# The rollup plot as SQL aggregates computed it before it moved to numpy: the reference the new one must equal.
_SQL_ROLLUP_PLOT = sql.SQL(
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


@pytest.mark.parametrize(("resolution", "pixels"), [(MINUTE, 97), (MINUTE, 700), (HOUR, 13)])
def test_rollup_plots_equal_what_the_sql_aggregates_gave(make_tag, rollups, resolution, pixels):
    """Random minutes with ties, spikes and bad stretches over two days, rolled up, plotted over a range that starts
    and ends inside buckets (summarised from raw samples): point for point the old answer."""
    rng = random.Random(23)
    tags = [make_tag(), make_tag()]
    for tag in tags:
        samples = []
        for second in range(0, 2 * 86400, rng.choice((20, 30, 45, 90))):
            roll = rng.random()
            if roll < 0.03:
                samples.append((s(second), None, Quality.BAD_COMM_FAILURE))
            else:
                samples.append((s(second), float(rng.choice((1, 2, 2, 3, 5, 8, 500))), Quality.GOOD))
        write(tag, samples)
    rollups(tag_ids=[t.pk for t in tags])
    start, end = s(1234.5), s(2 * 86400 - 777)
    ids = [t.pk for t in tags]

    plot = plot_values(tag_ids=ids, start=start, end=end, pixels=pixels, resolution=resolution)

    with read_cursor() as cursor:
        buckets, params = buckets_query(cursor, tag_ids=ids, start=start, end=end, resolution=resolution)
        cursor.execute(
            _SQL_ROLLUP_PLOT.format(origin=sql.Literal(ORIGIN), buckets=buckets),
            [plot.bucket_width, resolution.width / 2, *params, start],
        )
        expected = _points(cursor.fetchall(), ids, start)
    assert plot.resolution is resolution
    assert plot.series == expected
    assert all(len(expected[t]) > pixels / 2 for t in ids)


def test_plot_values_from_a_rollup_keep_the_spike(spiky, rollups):
    rollups(tag_ids=[spiky.pk])
    plot = plot_values(tag_ids=[spiky.pk], start=s(30), end=s(3 * 3600), pixels=20, resolution=MINUTE)
    assert plot.bucket_width == timedelta(minutes=9)
    points = plot.series[spiky.pk]
    assert 500.0 in [p.value for p in points]
    assert -3.0 in [p.value for p in points]
    spike = next(p for p in points if p.value == 500.0)
    assert s(1200) <= spike.time < s(1260)  # in the right minute
    assert points[0] == (s(30), 10.0, Quality.GOOD)  # the partial first minute, from raw
    assert len(points) <= 4 * 21
    assert [p.time for p in points] == sorted(p.time for p in points)


def test_ten_years_are_plotted_from_the_hourly_rollup(spiky, rollups):
    rollups(tag_ids=[spiky.pk])
    plot = plot_values(tag_ids=[spiky.pk], start=T0 - timedelta(days=3650), end=T0 + timedelta(days=1), pixels=1500)
    assert plot.resolution is HOUR
    assert plot.bucket_width == timedelta(hours=59)
    assert {p.value for p in plot.series[spiky.pk]} == {10.0, 500.0, -3.0}


@pytest.mark.parametrize("pixels", [0, 10_001, 1.5])
def test_pixels_are_bounded(make_tag, pixels):
    tag = make_tag()
    with pytest.raises(HistoryQueryError, match="pixels must be a whole number between 1 and 10000"):
        plot_values(tag_ids=[tag.pk], start=T0, end=s(60), pixels=pixels)


def test_plot_values_of_an_unknown_tag_is_an_error(db):
    with pytest.raises(HistoryQueryError, match="Unknown tag id"):
        plot_values(tag_ids=[424242], start=T0, end=s(60), pixels=10)


def test_a_request_for_too_many_values_is_an_error_saying_what_to_do(make_tag):
    tags = [make_tag() for _ in range(51)]
    with pytest.raises(HistoryQueryError, match=r"51 tags x 40000 points.*fewer tags or fewer points"):
        plot_values(tag_ids=[t.pk for t in tags], start=T0, end=s(60), pixels=10_000)


def test_an_unknown_resolution_is_an_error(make_tag):
    tag = make_tag()
    with pytest.raises(HistoryQueryError, match="resolution must be one of raw, 1m, 1h"):
        plot_values(tag_ids=[tag.pk], start=T0, end=s(60), pixels=10, resolution="1m")
