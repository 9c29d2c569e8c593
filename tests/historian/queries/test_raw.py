from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.queries.errors import HistoryQueryError
from historian.queries.raw import raw_values

from .conftest import T0, write


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def tag(make_tag):
    tag = make_tag()
    write(tag, [(s(0), 1.0), (s(10), 2.0), (s(20), None, Quality.BAD_COMM_FAILURE), (s(30), 4.0), (s(40), 5.0)])
    return tag


def test_raw_values_are_the_samples_in_the_range_of_any_quality(tag):
    raw = raw_values(tag_ids=[tag.pk], start=s(5), end=s(40))[tag.pk]
    assert [(p.time, p.value, p.quality) for p in raw.points] == [
        (s(10), 2.0, Quality.GOOD),
        (s(20), None, Quality.BAD_COMM_FAILURE),
        (s(30), 4.0, Quality.GOOD),
    ]
    assert raw.before is None
    assert raw.after is None


def test_boundaries_are_the_samples_just_outside_the_range(tag):
    raw = raw_values(tag_ids=[tag.pk], start=s(5), end=s(40), boundaries=True)[tag.pk]
    assert raw.before.time == s(0)
    assert raw.before.value == 1.0
    assert raw.after.time == s(40)  # end is exclusive, so a sample at end is the one after


def test_boundaries_are_none_where_there_is_no_sample(tag):
    raw = raw_values(tag_ids=[tag.pk], start=s(-100), end=s(100), boundaries=True)[tag.pk]
    assert len(raw.points) == 5
    assert raw.before is None
    assert raw.after is None


def test_an_unknown_tag_is_a_clear_error(tag):
    with pytest.raises(HistoryQueryError, match="Unknown tag id: 999999"):
        raw_values(tag_ids=[tag.pk, 999999], start=s(0), end=s(10))


def test_more_samples_than_asked_is_an_error_saying_what_to_do(tag):
    with pytest.raises(HistoryQueryError, match=r"more than 2 samples.*shorter range"):
        raw_values(tag_ids=[tag.pk], start=s(0), end=s(60), max_points=2)


@pytest.mark.parametrize("max_points", [0, 100_001])
def test_max_points_is_bounded(tag, max_points):
    with pytest.raises(HistoryQueryError, match="max_points must be between 1 and 100000"):
        raw_values(tag_ids=[tag.pk], start=s(0), end=s(60), max_points=max_points)


def test_end_before_start_is_an_error(tag):
    with pytest.raises(HistoryQueryError, match="end must be after start"):
        raw_values(tag_ids=[tag.pk], start=s(10), end=s(0))
