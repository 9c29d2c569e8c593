"""Retention on plain PostgreSQL: whole partitions for the longest retention, row deletes for shorter ones."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from historian.models import HistorianSettings
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.retention import retention_apply
from historian.services.rollups import rollups_refresh
from historian.services.samples import samples_write_batch

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
DAYS_AGO = (40, 20, 3)


def _partition(days_ago: int) -> str:
    return f"historian_sample_p{NOW - timedelta(days=days_ago):%Y%m%d}"


def _exists(relation: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [relation])
        return cursor.fetchone()[0]


def _days_kept(relation: str, tag_id: int, column: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT %s::date - {column}::date FROM {relation} WHERE tag_id = %s",  # noqa: S608
            [NOW, tag_id],
        )
        return {row[0] for row in cursor.fetchall()}


def _history(tag_id: int) -> dict[str, set[int]]:
    """Which of DAYS_AGO still have samples, 1m and 1h rollup rows for the tag."""
    return {
        "samples": _days_kept("historian_sample", tag_id, "time"),
        "1m": _days_kept("historian_rollup_1m", tag_id, "bucket"),
        "1h": _days_kept("historian_rollup_1h", tag_id, "bucket"),
    }


def _kept(*days: int) -> dict[str, set[int]]:
    return {"samples": set(days), "1m": set(days), "1h": set(days)}


@pytest.fixture
def retention(db) -> HistorianSettings:
    return HistorianSettings.load()


@pytest.fixture
def history(postgres_storage, rolled_from, make_tag):
    """history(*tags): samples for each tag at DAYS_AGO (two hours each), rolled up."""

    def write(*tags) -> None:
        # Watermarks at NOW: the samples are late rows, re-rolled from the writer's notes.
        rolled_from(NOW)
        rows = [
            SampleRow(NOW - timedelta(days=days, minutes=minutes), tag.pk, float(minutes), Quality.GOOD)
            for tag in tags
            for days in DAYS_AGO
            for minutes in range(0, 120, 7)
        ]
        samples_write_batch(rows=rows)
        report = rollups_refresh(now=NOW)
        assert report.complete
        assert report.late_ranges > 0

    return write


def test_partitions_older_than_the_default_retention_are_dropped_with_their_rollups(retention, history, make_tag):
    tag = make_tag()
    history(tag)
    retention.default_retention_days = 30
    retention.save()

    report = retention_apply(now=NOW)

    assert _partition(40) in report.partitions_dropped
    assert not _exists(_partition(40))
    assert _exists(_partition(20))
    assert _history(tag.pk) == _kept(20, 3)
    assert report.tags_trimmed == 0


def test_tag_with_a_shorter_retention_loses_its_older_rows_and_rollups_only(retention, history, make_tag):
    short, default = make_tag(retention_days=10), make_tag()
    history(short, default)
    retention.default_retention_days = 30
    retention.save()

    report = retention_apply(now=NOW)

    assert _history(short.pk) == _kept(3)
    assert _history(default.pk) == _kept(20, 3)
    assert report.tags_trimmed == 1
    assert report.samples_deleted == len(range(0, 120, 7))
    assert _exists(_partition(20))


def test_tag_with_a_longer_retention_keeps_the_partitions_the_others_are_trimmed_in(retention, history, make_tag):
    long, default = make_tag(retention_days=60), make_tag()
    history(long, default)
    retention.default_retention_days = 30
    retention.save()

    report = retention_apply(now=NOW)

    assert report.partitions_dropped == []
    assert _exists(_partition(40))
    assert _history(long.pk) == _kept(40, 20, 3)
    assert _history(default.pk) == _kept(20, 3)


def test_without_a_default_only_tags_with_their_own_retention_lose_history(retention, history, make_tag):
    short, forever = make_tag(retention_days=5), make_tag()
    history(short, forever)

    report = retention_apply(now=NOW)

    assert report.partitions_dropped == []
    assert _history(short.pk) == _kept(3)
    assert _history(forever.pk) == _kept(40, 20, 3)


def test_retention_keeps_whole_hours_of_rollups(retention, postgres_storage, rolled_from, make_tag):
    """A tag's cutoff falls on an hour boundary: no rollup bucket is left summarising deleted samples."""
    tag = make_tag(retention_days=2)
    rolled_from(NOW)
    two_days_ago = NOW - timedelta(days=2)
    samples_write_batch(
        rows=[SampleRow(two_days_ago - timedelta(minutes=m), tag.pk, 1.0, Quality.GOOD) for m in range(0, 90, 5)]
    )
    rollups_refresh(now=NOW)

    # Two days before this is 12:30: the samples of 12:00-12:30 stay with their hour's rollup.
    retention_apply(now=NOW + timedelta(minutes=30))

    with connection.cursor() as cursor:
        cursor.execute("SELECT time FROM historian_sample WHERE tag_id = %s", [tag.pk])
        assert cursor.fetchall() == [(two_days_ago,)]
        cursor.execute("SELECT bucket FROM historian_rollup_1h WHERE tag_id = %s", [tag.pk])
        assert cursor.fetchall() == [(two_days_ago,)]
        cursor.execute("SELECT bucket FROM historian_rollup_1m WHERE tag_id = %s", [tag.pk])
        assert cursor.fetchall() == [(two_days_ago,)]
