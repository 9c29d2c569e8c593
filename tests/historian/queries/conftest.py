"""Tags to read back, written straight through the samples writer, and the rollup relations."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pytest
from django.db import connection

from historian.models import Tag
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.rollups import rollups_refresh
from historian.services.samples import samples_write_batch
from historian.storage import sample_storage

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def write(tag: Tag, samples: Iterable[tuple[datetime, float | None] | tuple[datetime, float | None, int]]) -> None:
    """Store (time, value[, quality]) samples of `tag` (quality good unless given)."""
    rows = [SampleRow(s[0], tag.pk, s[1], s[2] if len(s) > 2 else Quality.GOOD) for s in samples]
    samples_write_batch(rows=rows)


@pytest.fixture
def rollups(db) -> Callable[..., None]:
    """fill(tag_ids=...): bring the rollups up to date, as the beat task does.

    Plain PostgreSQL: the writer noted the samples written behind the rollup watermark (the tests' fixed times are)
    as late rows; the refresh re-rolls their buckets. TimescaleDB: nothing to do, the continuous aggregates add in
    real time what they have not materialized.
    """

    def fill(*, tag_ids: list[int]) -> None:
        if not sample_storage().maintains_rollups:
            return
        report = rollups_refresh()
        assert report.complete
        assert not report.busy
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM historian_rollup_1m WHERE tag_id = ANY(%s)", [tag_ids])
            assert cursor.fetchone()[0] > 0, "the refresh rolled nothing up"

    return fill
