"""Reading string tags back: raw values from the text table; computing reads refuse them with the reason."""

from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.queries.aggregates import aggregate_values
from historian.queries.errors import HistoryQueryError
from historian.queries.export import aggregate_export_check, raw_export_chunks
from historian.queries.history import current_values
from historian.queries.interpolated import interpolated_values, value_at
from historian.queries.plot import plot_values
from historian.queries.raw import raw_values
from historian.sample_types import TextSampleRow
from historian.services.text_samples import text_samples_write_batch

from .conftest import T0, write


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def program(make_tag):
    tag = make_tag(data_type="string", address="HR100:8")
    rows = [
        TextSampleRow(s(0), tag.pk, "PRG-1", Quality.GOOD),
        TextSampleRow(s(10), tag.pk, "PRG-2", Quality.GOOD),
        TextSampleRow(s(20), tag.pk, None, Quality.BAD_COMM_FAILURE),
        TextSampleRow(s(30), tag.pk, "", Quality.GOOD),
        TextSampleRow(s(40), tag.pk, "Crème", Quality.GOOD),
    ]
    text_samples_write_batch(rows=rows)
    return tag


@pytest.fixture
def speed(make_tag):
    tag = make_tag()
    write(tag, [(s(5), 1.0), (s(15), 2.0)])
    return tag


def test_raw_values_of_a_string_tag_are_its_texts_with_the_samples_just_outside(program, speed):
    raw = raw_values(tag_ids=[program.pk, speed.pk], start=s(5), end=s(40), boundaries=True)

    assert [(p.time, p.value, p.quality) for p in raw[program.pk].points] == [
        (s(10), "PRG-2", Quality.GOOD),
        (s(20), None, Quality.BAD_COMM_FAILURE),
        (s(30), "", Quality.GOOD),
    ]
    assert (raw[program.pk].before.time, raw[program.pk].before.value) == (s(0), "PRG-1")
    assert (raw[program.pk].after.time, raw[program.pk].after.value) == (s(40), "Crème")
    assert [p.value for p in raw[speed.pk].points] == [1.0, 2.0]  # a numeric tag in the same call is unaffected


def test_too_many_text_samples_is_an_error_not_a_silent_cut(program):
    with pytest.raises(HistoryQueryError, match="more than 2 samples"):
        raw_values(tag_ids=[program.pk], start=s(0), end=s(50), max_points=2)


def test_writing_text_rows_twice_stores_them_once_and_the_newest_is_current(program):
    text_samples_write_batch(rows=[TextSampleRow(s(40), program.pk, "Crème", Quality.GOOD)])
    text_samples_write_batch(rows=[TextSampleRow(s(5), program.pk, "late", Quality.GOOD)])  # late: not current

    assert len(raw_values(tag_ids=[program.pk], start=s(0), end=s(50)).get(program.pk).points) == 6
    current = current_values(tag_ids=[program.pk])[program.pk]
    assert (current.time, current.value) == (s(40), "Crème")


@pytest.mark.parametrize(
    "read",
    [
        lambda ids: aggregate_values(tag_ids=ids, start=s(0), end=s(60), interval=timedelta(seconds=10)),
        lambda ids: interpolated_values(tag_ids=ids, start=s(0), end=s(60), interval=timedelta(seconds=10)),
        lambda ids: value_at(tag_ids=ids, at=s(15)),
        lambda ids: plot_values(tag_ids=ids, start=s(0), end=s(60), pixels=100),
        lambda ids: aggregate_export_check(tag_ids=ids, start=s(0), end=s(60), interval=timedelta(seconds=10)),
    ],
    ids=["aggregates", "interpolated", "value_at", "plot", "aggregate_export"],
)
def test_reads_that_compute_with_values_refuse_a_string_tag_naming_it(program, speed, read):
    with pytest.raises(HistoryQueryError, match=r"String tag Site/Area/Line/Machine\.t0 \(id \d+\) holds text"):
        read([speed.pk, program.pk])


def test_the_raw_export_streams_texts_tag_by_tag(program, speed):
    rows = [row for chunk in raw_export_chunks(tag_ids=[program.pk, speed.pk], start=s(0), end=s(50)) for row in chunk]
    assert [(tag_id, value) for tag_id, _, value, _ in rows] == [
        (program.pk, "PRG-1"),
        (program.pk, "PRG-2"),
        (program.pk, None),
        (program.pk, ""),
        (program.pk, "Crème"),
        (speed.pk, 1.0),
        (speed.pk, 2.0),
    ]
