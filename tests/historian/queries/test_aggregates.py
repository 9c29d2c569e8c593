import math
import random
from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.queries.aggregates import _filled, aggregate_values, counter_delta
from historian.queries.errors import HistoryQueryError
from historian.queries.resolution import MINUTE, RAW, Bucket

from .conftest import T0, write


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


def aggregate(tag, start, end, interval, **kwargs):
    result = aggregate_values(tag_ids=[tag.pk], start=start, end=end, interval=interval, **kwargs)
    return result.series[tag.pk]


SERIES = [(s(0), 0.0), (s(10), 10.0), (s(20), 30.0), (s(30), 10.0)]


def test_event_aggregates_per_interval(make_tag):
    tag = make_tag(data_type="float32")
    write(tag, SERIES)
    first, second = aggregate(tag, s(0), s(40), timedelta(seconds=20))
    assert (first.start, first.end, second.start, second.end) == (s(0), s(20), s(20), s(40))
    assert (first.count, first.avg, first.min, first.max) == (2, 5.0, 0.0, 10.0)
    assert first.stddev == pytest.approx(math.sqrt(50))
    assert (first.first, first.last) == ((s(0), 0.0), (s(10), 10.0))
    assert (second.count, second.avg, second.min, second.max) == (2, 20.0, 10.0, 30.0)
    assert second.stddev == pytest.approx(math.sqrt(200))


def test_time_weighted_average_of_a_linear_tag_is_the_trapezoid_rule(make_tag):
    tag = make_tag(data_type="float32")
    write(tag, SERIES)
    first, second = aggregate(tag, s(0), s(40), timedelta(seconds=20))
    # [0, 10]: (0 + 10) / 2 * 10 = 50, [10, 20]: (10 + 30) / 2 * 10 = 200
    assert first.integral == pytest.approx(250.0)
    assert first.time_avg == pytest.approx(12.5)
    # [20, 30]: (30 + 10) / 2 * 10 = 200, then the newest value holds: 10 * 10 = 100
    assert second.integral == pytest.approx(300.0)
    assert second.time_avg == pytest.approx(15.0)
    assert second.covered_seconds == pytest.approx(20.0)


def test_time_weighted_average_of_a_step_tag_holds_each_value(make_tag):
    tag = make_tag(data_type="int16")
    write(tag, SERIES)
    first, second = aggregate(tag, s(0), s(40), timedelta(seconds=20))
    assert first.integral == pytest.approx(0 * 10 + 10 * 10)
    assert second.integral == pytest.approx(30 * 10 + 10 * 10)
    assert second.time_avg == pytest.approx(20.0)


def test_time_weighted_figures_interpolate_from_the_sample_before_the_range(make_tag):
    tag = make_tag(data_type="float64")
    write(tag, [(s(-10), 0.0), (s(10), 20.0)])
    (only,) = aggregate(tag, s(0), s(10), timedelta(seconds=10))
    assert only.count == 0
    assert only.avg is None
    assert only.time_avg == pytest.approx(15.0)  # from 10 (interpolated at start) to 20


@pytest.mark.parametrize(("data_type", "integral", "covered"), [("float32", 400.0, 20.0), ("int32", 500.0, 30.0)])
def test_bad_quality_time_is_left_out_of_time_weighted_figures(make_tag, data_type, integral, covered):
    tag = make_tag(data_type=data_type)
    write(tag, [(s(0), 10.0), (s(10), 99.0, Quality.BAD_COMM_FAILURE), (s(20), 20.0), (s(30), 20.0)])
    (only,) = aggregate(tag, s(0), s(40), timedelta(seconds=40))
    # linear: [0, 10) leads to a bad sample and [10, 20) starts at one: both out; step: only [10, 20) is out
    assert only.integral == pytest.approx(integral)
    assert only.covered_seconds == pytest.approx(covered)
    assert (only.count, only.bad_count, only.max) == (3, 1, 20.0)
    assert only.avg == pytest.approx(50 / 3)


def test_counter_increase_handles_rollover_and_reset(make_tag):
    tag = make_tag(data_type="uint16", counter_rollover=65536)
    write(tag, [(s(0), 65530.0), (s(10), 5.0), (s(20), 105.0), (s(30), 3.0), (s(40), 10.0)])
    first, second, third = aggregate(tag, s(0), s(60), timedelta(seconds=20))
    assert first.counter_increase == pytest.approx(11 + 100)  # wrapped at 65536, then counted on
    assert second.counter_increase == pytest.approx(3 + 7)  # 105 -> 3 is a reset, not a wrap
    assert third.counter_increase == 0.0  # held: no new sample means no change


def test_a_counter_without_rollover_treats_every_fall_as_a_reset():
    assert counter_delta(100.0, 5.0, None) == 5.0
    assert counter_delta(65530.0, 5.0, 65536.0) == 11.0
    assert counter_delta(1000.0, 3.0, 65536.0) == 3.0
    assert counter_delta(3.0, 10.0, 65536.0) == 7.0


def test_counter_increase_spanning_intervals_is_shared_by_time(make_tag):
    tag = make_tag(data_type="int32")
    write(tag, [(s(10), 0.0), (s(30), 20.0)])
    first, second = aggregate(tag, s(0), s(40), timedelta(seconds=20))
    assert first.counter_increase == pytest.approx(10.0)
    assert second.counter_increase == pytest.approx(10.0)


def test_the_last_interval_is_cut_at_end(make_tag):
    tag = make_tag()
    write(tag, SERIES)
    rows = aggregate(tag, s(0), s(25), timedelta(seconds=10))
    assert [(r.start, r.end) for r in rows] == [(s(0), s(10)), (s(10), s(20)), (s(20), s(25))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": s(10), "end": s(0)}, "end must be after start"),
        ({"start": s(0).replace(tzinfo=None), "end": s(10)}, "time zone"),
        ({"interval": timedelta(milliseconds=1), "end": s(1000)}, "at most 100000 can be asked"),
        ({"tag_ids": [987654]}, "Unknown tag id: 987654"),
        ({"start": s(7), "end": s(7 + 40 * 86400), "interval": timedelta(hours=1)}, "start on a whole minute"),
        ({"start": T0, "end": s(40 * 86400), "interval": timedelta(seconds=90)}, "interval of whole minutes"),
        ({"resolution": MINUTE, "start": s(1)}, "only intervals of whole minutes"),
    ],
)
def test_bad_requests_are_a_clear_error(make_tag, kwargs, message):
    tag = make_tag()
    arguments = {"tag_ids": [tag.pk], "start": s(0), "end": s(60), "interval": timedelta(seconds=60), **kwargs}
    with pytest.raises(HistoryQueryError, match=message):
        aggregate_values(**arguments)


# -- from the rollups


def noisy_series(seconds: int, *, seed: int = 3):
    rng = random.Random(seed)
    return [(s(t), round(rng.uniform(0, 100), 3)) for t in range(seconds)]


@pytest.fixture
def three_hours(make_tag, rollups):
    """A float tag sampled every second for three hours, rolled up."""
    tag = make_tag(data_type="float64")
    write(tag, noisy_series(3 * 3600))
    rollups(tag_ids=[tag.pk])
    return tag


def test_event_aggregates_from_the_rollups_equal_raw_ones(three_hours):
    tag = three_hours
    end = s(3 * 3600 - 30)  # a partial last minute: read from raw in the same query
    raw = aggregate(tag, T0, end, timedelta(minutes=20), resolution=RAW)
    rolled = aggregate(tag, T0, end, timedelta(minutes=20), resolution=MINUTE)
    assert len(raw) == len(rolled) == 9
    for r, m in zip(raw, rolled, strict=True):
        assert (m.count, m.min, m.max, m.first, m.last) == (r.count, r.min, r.max, r.first, r.last)
        assert m.avg == pytest.approx(r.avg)
        assert m.stddev == pytest.approx(r.stddev)


def test_time_weighted_average_from_rollups_is_exact_for_evenly_spaced_samples(three_hours):
    tag = three_hours
    raw = aggregate(tag, T0, s(3 * 3600), timedelta(minutes=30), resolution=RAW)
    rolled = aggregate(tag, T0, s(3 * 3600), timedelta(minutes=30), resolution=MINUTE)
    for r, m in zip(raw, rolled, strict=True):
        assert m.integral == pytest.approx(r.integral)
        assert m.time_avg == pytest.approx(r.time_avg)
        assert m.covered_seconds == pytest.approx(r.covered_seconds)


def test_time_weighted_average_from_rollups_stays_within_the_documented_bound(make_tag, rollups):
    tag = make_tag(data_type="float64")
    rng = random.Random(5)
    times = sorted(rng.sample(range(3600), 400))  # unevenly spaced
    write(tag, [(s(t), rng.uniform(0, 100)) for t in times])
    rollups(tag_ids=[tag.pk])
    (raw,) = aggregate(tag, T0, s(3600), timedelta(hours=1), resolution=RAW)
    (rolled,) = aggregate(tag, T0, s(3600), timedelta(hours=1), resolution=MINUTE)
    minute_buckets = {}
    for t in times:
        minute_buckets.setdefault(t // 60, []).append(t)
    # (max - min) x (last - first) per 1-minute bucket, with values in [0, 100]
    bound = sum(100 * (ts[-1] - ts[0]) for ts in minute_buckets.values())
    assert abs(rolled.integral - raw.integral) <= bound
    assert rolled.integral != pytest.approx(raw.integral)  # an estimate indeed, not a copy of raw


def test_counter_increase_from_rollups_handles_a_rollover_and_a_reset_inside_a_bucket(make_tag, rollups):
    tag = make_tag(data_type="uint16", counter_rollover=65536)
    samples, value = [], 65000.0
    for t in range(600):
        if t == 130:
            value = 0.0  # reset in the middle of the third minute
        samples.append((s(t), value))
        value = (value + 7) % 65536  # wraps in the second minute
    write(tag, samples)
    rollups(tag_ids=[tag.pk])
    raw = aggregate(tag, T0, s(600), timedelta(minutes=5), resolution=RAW)
    rolled = aggregate(tag, T0, s(600), timedelta(minutes=5), resolution=MINUTE)
    assert [r.counter_increase for r in rolled] == pytest.approx([r.counter_increase for r in raw])
    assert raw[0].counter_increase == pytest.approx(129 * 7 + 170 * 7)  # the reset adds 0


def test_a_counter_keeps_counting_through_bad_samples(make_tag):
    tag = make_tag(data_type="uint32")
    write(tag, [(s(0), 100.0), (s(10), 0.0, Quality.BAD_COMM_FAILURE), (s(20), 130.0)])
    (only,) = aggregate(tag, s(0), s(20), timedelta(seconds=20))
    assert only.counter_increase == pytest.approx(30.0)


def test_an_interval_without_samples_or_history_has_no_figures(make_tag):
    tag = make_tag()
    (only,) = aggregate(tag, s(0), s(60), timedelta(seconds=60))
    assert (only.count, only.avg, only.min, only.time_avg, only.integral, only.counter_increase) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )


def test_thirty_days_are_aggregated_from_the_minute_rollup(make_tag, rollups):
    tag = make_tag(data_type="float64")
    write(tag, [(s(t), float(t % 7)) for t in range(0, 2 * 86400, 60)])
    rollups(tag_ids=[tag.pk])
    result = aggregate_values(tag_ids=[tag.pk], start=T0, end=T0 + timedelta(days=30), interval=timedelta(days=1))
    assert result.resolution is MINUTE
    first, second, third = result.series[tag.pk][:3]
    assert (first.count, second.count, third.count) == (1440, 1440, 0)
    assert first.max == 6.0


def test_time_weighted_average_of_a_step_tag_from_rollups_is_exact_for_evenly_spaced_samples(make_tag, rollups):
    tag = make_tag(data_type="int16")
    write(tag, [(s(t), float(t // 7 % 5)) for t in range(0, 7200, 2)])
    rollups(tag_ids=[tag.pk])
    raw = aggregate(tag, T0, s(7200), timedelta(minutes=15), resolution=RAW)
    rolled = aggregate(tag, T0, s(7200), timedelta(minutes=15), resolution=MINUTE)
    assert [m.integral for m in rolled] == pytest.approx([r.integral for r in raw])


def test_a_rollup_bucket_with_bad_samples_leaves_the_stretch_after_it_out(make_tag, rollups):
    tag = make_tag(data_type="float64")
    samples = [(s(t), 10.0) for t in range(0, 180, 10)]
    samples[8] = (s(80), None, Quality.BAD_COMM_FAILURE)  # in the second minute
    write(tag, samples)
    rollups(tag_ids=[tag.pk])
    (raw,) = aggregate(tag, T0, s(180), timedelta(minutes=3), resolution=RAW)
    (rolled,) = aggregate(tag, T0, s(180), timedelta(minutes=3), resolution=MINUTE)
    assert raw.covered_seconds == pytest.approx(180 - 20)  # [70, 90) is out
    assert rolled.covered_seconds == pytest.approx(180 - 10)  # [110, 120) out: where in the minute is not known
    assert rolled.time_avg == raw.time_avg == pytest.approx(10.0)
    assert (rolled.bad_count, raw.bad_count) == (1, 1)


def test_a_rollup_bucket_that_counts_samples_but_lacks_their_figures_is_refused_not_misread():
    figures = {"min": 1.0, "max": 2.0, "sum": 3.0, "sum_sq": 5.0, "first_value": 1.0, "last_value": 2.0}
    times = {"first_time": T0, "last_time": T0 + timedelta(seconds=1)}
    assert _filled(Bucket(7, T0, 0, *[None] * 8, bad_count=3)) is None  # no usable sample: nothing to read

    with pytest.raises(HistoryQueryError, match=r"Rollup bucket .* of tag 7 counts samples but lacks their figures"):
        _filled(Bucket(tag_id=7, bucket=T0, count=2, bad_count=0, **{**figures, "min": None}, **times))
