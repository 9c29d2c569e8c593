from datetime import timedelta

import pytest
from django.db import connection

from historian.queries.aggregates import aggregate_values
from historian.queries.plot import plot_values
from historian.queries.resolution import HOUR, MINUTE, RAW, resolution_for, rollup_watermark
from historian.storage import sample_storage

from .conftest import T0, write


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(minutes=1), RAW),
        (timedelta(hours=1), RAW),
        (timedelta(days=1), RAW),
        (timedelta(days=30), MINUTE),
        (timedelta(days=365), HOUR),
        (timedelta(days=3653), HOUR),
    ],
)
def test_resolution_reads_at_most_about_100k_rows_per_tag(span, expected):
    assert resolution_for(start=T0 - span, end=T0) is expected


def test_the_limits_between_resolutions():
    assert resolution_for(start=T0, end=T0 + timedelta(seconds=100_000)) is RAW
    assert resolution_for(start=T0, end=T0 + timedelta(seconds=100_001)) is MINUTE
    assert resolution_for(start=T0, end=T0 + timedelta(minutes=100_000)) is MINUTE
    assert resolution_for(start=T0, end=T0 + timedelta(minutes=100_001)) is HOUR


def test_rollup_rows_are_read_before_the_watermark_and_raw_samples_from_it_on(make_tag, rollups):
    if not sample_storage().maintains_rollups:
        pytest.skip("continuous aggregates (TimescaleDB) cannot be edited to tell their rows from raw ones")
    tag = make_tag(data_type="float64")
    write(tag, [(T0 + timedelta(seconds=t), 1.0) for t in range(0, 7200, 10)])
    rollups(tag_ids=[tag.pk])
    with connection.cursor() as cursor:
        # A value no sample has: seeing it proves the rollup row was read rather than the raw samples.
        cursor.execute(
            "UPDATE historian_rollup_1m SET max = 42 WHERE tag_id = %s AND bucket = %s",
            [tag.pk, T0 + timedelta(minutes=10)],
        )
        assert cursor.rowcount == 1
        watermark = rollup_watermark(cursor.cursor, MINUTE)
    assert watermark is not None
    write(tag, [(watermark + timedelta(seconds=30), 7.0)])  # not rolled up yet: read from raw
    end = watermark + timedelta(hours=1)

    aggregates = aggregate_values(tag_ids=[tag.pk], start=T0, end=end, interval=end - T0, resolution=MINUTE)
    (only,) = aggregates.series[tag.pk]
    assert only.max == 42
    assert only.count == 721
    assert only.last == (watermark + timedelta(seconds=30), 7.0)

    plot = plot_values(tag_ids=[tag.pk], start=T0, end=end, pixels=1500, resolution=MINUTE)
    assert {p.value for p in plot.series[tag.pk]} == {1.0, 42.0, 7.0}
