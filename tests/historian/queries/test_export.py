from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.queries import export
from historian.queries.aggregates import aggregate_values
from historian.queries.errors import HistoryQueryError
from historian.queries.export import aggregate_export_check, aggregate_export_chunks, raw_export_chunks

from .conftest import T0, write


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def tags(make_tag):
    first, second = make_tag(), make_tag()
    write(first, [(s(k), float(k)) for k in range(0, 100)])
    write(second, [(s(k), None, Quality.BAD_COMM_FAILURE) if k == 50 else (s(k), -float(k)) for k in range(0, 100, 2)])
    return first, second


def test_raw_export_gives_every_sample_tag_by_tag_in_time_order_in_bounded_chunks(tags):
    first, second = tags
    chunks = list(raw_export_chunks(tag_ids=[second.pk, first.pk], start=s(10), end=s(90), chunk_rows=7))
    rows = [row for chunk in chunks for row in chunk]
    assert max(len(chunk) for chunk in chunks) == 7
    assert [(r[0], r[1]) for r in rows] == [(second.pk, s(k)) for k in range(10, 90, 2)] + [
        (first.pk, s(k)) for k in range(10, 90)
    ]
    assert (second.pk, s(50), None, Quality.BAD_COMM_FAILURE) in rows


def test_raw_export_refuses_an_unknown_tag_before_reading(tags):
    with pytest.raises(HistoryQueryError, match="Unknown tag id"):
        next(raw_export_chunks(tag_ids=[999_999], start=s(0), end=s(10)))


def test_aggregate_export_in_slices_equals_one_aggregate_query(tags, monkeypatch):
    first, second = tags
    monkeypatch.setattr(export, "SLICE_INTERVALS", 3)  # 10 intervals in slices of 3, 3, 3 and 1
    start, end, interval = s(0), s(100), timedelta(seconds=10)

    sliced = {}
    for tag_id, intervals in aggregate_export_chunks(
        tag_ids=[first.pk, second.pk], start=start, end=end, interval=interval
    ):
        sliced.setdefault(tag_id, []).extend(intervals)

    whole = aggregate_values(tag_ids=[first.pk, second.pk], start=start, end=end, interval=interval).series
    assert sliced == whole


def test_aggregate_export_refuses_what_the_rollup_cannot_answer_before_any_row(tags):
    with pytest.raises(HistoryQueryError, match="rollup"):
        aggregate_export_check(
            tag_ids=[tags[0].pk], start=s(30), end=s(30) + timedelta(days=30), interval=timedelta(seconds=90)
        )


def test_aggregate_export_refuses_an_export_too_large(tags):
    with pytest.raises(HistoryQueryError, match="at most 100000000"):
        aggregate_export_check(
            tag_ids=[tags[0].pk], start=s(0), end=s(0) + timedelta(days=3650), interval=timedelta(seconds=1)
        )
