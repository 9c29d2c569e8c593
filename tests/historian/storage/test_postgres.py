"""The plain-PostgreSQL storage's late-row notes on columns equal the row-by-row definition."""

from datetime import UTC, datetime, timedelta

import numpy as np

from historian.sample_types import SampleBatch, datetime_to_us, us_to_datetime
from historian.storage.postgres import late_bucket_run_arrays, late_bucket_runs


def test_late_runs_on_columns_equal_the_row_by_row_runs():
    rng = np.random.default_rng(7)
    start = datetime(2026, 3, 1, 23, 58, 17, 250_000, tzinfo=UTC)
    # Tags with gaps, repeats of a bucket, rows out of order, and rows after the cut.
    offsets_us = rng.integers(0, 40 * 60 * 1_000_000, size=3000)
    tags = rng.integers(1, 12, size=3000)
    rows = SampleBatch.of(datetime_to_us(start) + offsets_us, tags, rng.random(3000), np.full(3000, 192))
    before = start + timedelta(minutes=30)

    expected = late_bucket_runs(rows.rows(), before)
    got_tags, got_first, got_last = late_bucket_run_arrays(rows, before)
    got = [
        (tag, us_to_datetime(first), us_to_datetime(last))
        for tag, first, last in zip(got_tags.tolist(), got_first.tolist(), got_last.tolist(), strict=True)
    ]
    assert len(expected) > 11  # the gaps split runs
    assert got == sorted(expected)


def test_no_late_rows_no_runs():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    rows = SampleBatch.of(datetime_to_us(now), [1, 2], [1.0, 2.0], [192, 192])
    tags, first, last = late_bucket_run_arrays(rows, now)
    assert len(tags) == len(first) == len(last) == 0
