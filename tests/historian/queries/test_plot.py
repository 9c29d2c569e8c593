from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.queries.errors import HistoryQueryError
from historian.queries.plot import plot_values
from historian.queries.resolution import HOUR, MINUTE, RAW

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
