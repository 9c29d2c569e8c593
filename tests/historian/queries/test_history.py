from datetime import UTC, datetime, timedelta

import pytest

from historian.quality import Quality
from historian.queries.errors import HistoryQueryError
from historian.queries.history import current_values, tag_history
from historian.sample_types import SampleRow
from historian.services.samples import samples_write_batch

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def series(machine_tags):
    tag = machine_tags[5]
    samples_write_batch(rows=[SampleRow(T0 + timedelta(seconds=s), tag.pk, float(s), Quality.GOOD) for s in range(60)])
    return tag


def test_range_is_start_inclusive_end_exclusive(series):
    points = tag_history(tag_ids=[series.pk], start=T0 + timedelta(seconds=10), end=T0 + timedelta(seconds=20))
    assert [p.value for p in points[series.pk]] == [float(s) for s in range(10, 20)]


def test_several_tags_come_back_separately(series, machine_tags):
    other = machine_tags[6]
    points = tag_history(tag_ids=[series.pk, other.pk], start=T0, end=T0 + timedelta(minutes=1))
    assert len(points[series.pk]) == 60
    assert points[other.pk] == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0, T0 - timedelta(seconds=1), "end must be after start"),
        (T0.replace(tzinfo=None), T0 + timedelta(seconds=1), "time zone"),
    ],
)
def test_a_bad_range_is_a_clear_error(series, start, end, message):
    with pytest.raises(HistoryQueryError, match=message):
        tag_history(tag_ids=[series.pk], start=start, end=end)


def test_more_points_than_asked_is_an_error_not_a_silent_cut(series):
    with pytest.raises(HistoryQueryError, match="more than 10 samples"):
        tag_history(tag_ids=[series.pk], start=T0, end=T0 + timedelta(minutes=1), max_points=10)


def test_current_values_is_a_snapshot_of_every_tag(series, machine_tags):
    other = machine_tags[6]
    samples_write_batch(rows=[SampleRow(T0 + timedelta(minutes=5), other.pk, 3.5, Quality.UNCERTAIN)])
    snapshot = current_values()
    assert snapshot[series.pk].time == T0 + timedelta(seconds=59)
    assert snapshot[series.pk].value == 59.0
    assert (snapshot[other.pk].value, snapshot[other.pk].quality) == (3.5, Quality.UNCERTAIN)
    assert current_values(tag_ids=[other.pk]).keys() == {other.pk}
