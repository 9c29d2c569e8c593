from datetime import timedelta

import pytest

from historian.models.tags import Interpolation
from historian.quality import Quality
from historian.queries.errors import HistoryQueryError
from historian.queries.interpolated import interpolated_values, value_at

from .conftest import T0, write


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def linear(make_tag):
    tag = make_tag(data_type="float32")
    write(tag, [(s(0), 0.0), (s(10), 10.0), (s(20), 30.0)])
    return tag


@pytest.fixture
def step(make_tag):
    tag = make_tag(data_type="int16")
    write(tag, [(s(0), 1.0), (s(10), 2.0), (s(20), 3.0)])
    return tag


def values(points):
    return [p.value for p in points]


def test_float_tags_interpolate_linearly(linear):
    points = interpolated_values(tag_ids=[linear.pk], start=s(0), end=s(20), interval=timedelta(seconds=5))
    assert [p.time for p in points[linear.pk]] == [s(0), s(5), s(10), s(15), s(20)]
    assert values(points[linear.pk]) == [0.0, 5.0, 10.0, 20.0, 30.0]


def test_integer_tags_hold_the_previous_value(step):
    points = interpolated_values(tag_ids=[step.pk], start=s(0), end=s(20), interval=timedelta(seconds=5))
    assert values(points[step.pk]) == [1.0, 1.0, 2.0, 2.0, 3.0]


def test_the_tag_setting_overrides_the_data_type(make_tag):
    tag = make_tag(data_type="float32", interpolation=Interpolation.STEP)
    write(tag, [(s(0), 0.0), (s(10), 10.0)])
    points = interpolated_values(tag_ids=[tag.pk], start=s(0), end=s(10), interval=timedelta(seconds=5))
    assert values(points[tag.pk]) == [0.0, 0.0, 10.0]


def test_interpolation_uses_the_samples_outside_the_range(linear):
    points = interpolated_values(tag_ids=[linear.pk], start=s(2), end=s(18), interval=timedelta(seconds=8))
    assert values(points[linear.pk]) == [2.0, 10.0, 26.0]


def test_interpolation_never_bridges_a_bad_quality_gap(make_tag):
    tag = make_tag(data_type="float64")
    write(tag, [(s(0), 0.0), (s(10), None, Quality.BAD_COMM_FAILURE), (s(20), 20.0), (s(30), 30.0)])
    points = interpolated_values(tag_ids=[tag.pk], start=s(0), end=s(30), interval=timedelta(seconds=5))[tag.pk]
    assert values(points) == [0.0, None, None, None, 20.0, 25.0, 30.0]
    assert [p.quality for p in points[1:4]] == [Quality.BAD_COMM_FAILURE] * 3


def test_step_tags_hold_up_to_a_bad_sample_and_not_past_it(make_tag):
    tag = make_tag(data_type="bool")
    write(tag, [(s(0), 1.0), (s(10), 0.0, Quality.BAD_NOT_CONNECTED), (s(20), 0.0)])
    points = interpolated_values(tag_ids=[tag.pk], start=s(0), end=s(20), interval=timedelta(seconds=5))[tag.pk]
    assert values(points) == [1.0, 1.0, None, None, 0.0]


def test_the_newest_value_holds_and_before_the_first_sample_there_is_none(linear):
    points = interpolated_values(tag_ids=[linear.pk], start=s(-10), end=s(40), interval=timedelta(seconds=10))
    assert values(points[linear.pk]) == [None, 0.0, 10.0, 30.0, 30.0, 30.0]
    assert points[linear.pk][0].quality == Quality.BAD


def test_value_at_a_moment(linear, step):
    at = value_at(tag_ids=[linear.pk, step.pk], at=s(12.5))
    assert at[linear.pk].value == 15.0
    assert at[linear.pk].time == s(12.5)
    assert at[step.pk].value == 2.0


def test_value_at_a_sample_is_that_sample(linear):
    assert value_at(tag_ids=[linear.pk], at=s(10))[linear.pk].value == 10.0


def test_value_at_needs_a_time_zone(linear):
    with pytest.raises(HistoryQueryError, match="time zone"):
        value_at(tag_ids=[linear.pk], at=s(10).replace(tzinfo=None))


def test_too_many_intervals_is_an_error_saying_what_to_do(linear):
    with pytest.raises(HistoryQueryError, match=r"at most 100000.*longer interval"):
        interpolated_values(tag_ids=[linear.pk], start=s(0), end=s(200_000), interval=timedelta(seconds=1))


def test_interval_must_be_positive(linear):
    with pytest.raises(HistoryQueryError, match="positive"):
        interpolated_values(tag_ids=[linear.pk], start=s(0), end=s(20), interval=timedelta(0))
