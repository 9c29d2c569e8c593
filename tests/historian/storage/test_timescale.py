"""TimescaleDB: hypertable compression, continuous aggregates, policies (run with MILLWRIGHT_TEST_BACKEND=timescaledb).

The harness never runs background jobs: policies are run with CALL run_job(id), which cannot run inside a
transaction, hence `transactional_db` where a job runs (and the clean-up of what such tests wrote).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from historian.models import HistorianSettings
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.retention import retention_apply
from historian.services.rollups import rollups_refresh
from historian.services.samples import samples_write_batch
from historian.storage import ROLLUP_1H, ROLLUP_1M, rollup_watermark
from historian.storage.timescale import policy_interval, policy_job
from tests.historian.services.test_rollups import START, _assert_rollup, _expected, _samples

TAG = 2001


def _fetch(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def _run_job(proc_name: str, relation: str) -> None:
    job = policy_job(connection.cursor().cursor, proc_name=proc_name, relation=relation)
    assert job is not None, f"no {proc_name} job on {relation}"
    with connection.cursor() as cursor:
        cursor.execute("CALL run_job(%s)", [job[0]])


@pytest.fixture
def committed_samples(timescale_storage, transactional_db) -> Iterator[None]:
    """Tests that commit samples of tag TAG remove them (and their materialized rollups) afterwards."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM historian_sample WHERE tag_id = %s", [TAG])
    _run_job("policy_refresh_continuous_aggregate", ROLLUP_1M.relation)
    _run_job("policy_refresh_continuous_aggregate", ROLLUP_1H.relation)


def test_samples_are_compressed_by_tag_in_time_order_by_a_policy(timescale_storage):
    rows = _fetch(
        "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings "
        "WHERE hypertable = 'historian_sample'::regclass"
    )
    assert [(segmentby, orderby.replace('"', "")) for segmentby, orderby in rows] == [("tag_id", "time")]
    job = policy_job(connection.cursor().cursor, proc_name="policy_compression", relation="historian_sample")
    assert policy_interval(connection.cursor().cursor, job, "compress_after") == timedelta(days=7)


def test_rollups_are_real_time_continuous_aggregates_refreshed_by_policies(timescale_storage):
    rows = _fetch(
        "SELECT view_name, materialized_only, view_definition FROM timescaledb_information.continuous_aggregates "
        "ORDER BY view_name"
    )
    assert [(name, materialized_only) for name, materialized_only, _ in rows] == [
        (ROLLUP_1H.relation, False),
        (ROLLUP_1M.relation, False),
    ]
    assert ROLLUP_1M.relation in rows[0][2], "the 1h rollup is built on the 1m one"
    for relation in (ROLLUP_1M.relation, ROLLUP_1H.relation):
        assert policy_job(
            connection.cursor().cursor, proc_name="policy_refresh_continuous_aggregate", relation=relation
        )
    with connection.cursor() as cursor:
        assert rollup_watermark(cursor, "1m") is None
    assert rollups_refresh().rolled_until_1m is None


def test_rollups_equal_python_before_and_after_their_refresh_job(committed_samples):
    rows = _samples(TAG, start=START, minutes=150, seed=3)
    samples_write_batch(rows=rows)
    end = START + timedelta(hours=3)

    for materialized in (False, True):
        if materialized:
            _run_job("policy_refresh_continuous_aggregate", ROLLUP_1M.relation)
            _run_job("policy_refresh_continuous_aggregate", ROLLUP_1H.relation)
        _assert_rollup(ROLLUP_1M.relation, _expected(rows, ROLLUP_1M.width), before=end)
        _assert_rollup(ROLLUP_1H.relation, _expected(rows, ROLLUP_1H.width), before=end)

    # A late row behind the materialized buckets reaches them at the next refresh.
    late = [SampleRow(START + timedelta(minutes=5, seconds=1), TAG, 1e6, Quality.GOOD)]
    samples_write_batch(rows=late)
    _run_job("policy_refresh_continuous_aggregate", ROLLUP_1M.relation)
    _run_job("policy_refresh_continuous_aggregate", ROLLUP_1H.relation)
    _assert_rollup(ROLLUP_1M.relation, _expected(rows + late, ROLLUP_1M.width), before=end)
    _assert_rollup(ROLLUP_1H.relation, _expected(rows + late, ROLLUP_1H.width), before=end)


def test_compressed_chunks_still_take_late_and_repeated_rows(committed_samples):
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    samples_write_batch(rows=[SampleRow(old + timedelta(seconds=s), TAG, float(s), Quality.GOOD) for s in range(60)])
    _run_job("policy_compression", "historian_sample")
    assert _fetch(
        "SELECT bool_and(is_compressed) FROM timescaledb_information.chunks WHERE hypertable_name = 'historian_sample' "
        "AND range_start <= %s AND range_end > %s",
        [old, old],
    ) == [(True,)]

    late = [SampleRow(old + timedelta(seconds=s), TAG, -1.0, Quality.GOOD) for s in (30, 90)]
    samples_write_batch(rows=late)

    assert _fetch("SELECT count(*) FROM historian_sample WHERE tag_id = %s", [TAG]) == [(61,)]
    assert _fetch(
        "SELECT value FROM historian_sample WHERE tag_id = %s AND time = %s", [TAG, old + timedelta(seconds=30)]
    ) == [(30.0,)]


def test_retention_policies_follow_the_settings(timescale_storage):
    settings = HistorianSettings.load()
    relations = ("historian_sample", ROLLUP_1M.relation, ROLLUP_1H.relation)

    def drop_after() -> set[timedelta | None]:
        cursor = connection.cursor().cursor
        jobs = [policy_job(cursor, proc_name="policy_retention", relation=r) for r in relations]
        return {policy_interval(cursor, job, "drop_after") for job in jobs}

    settings.default_retention_days = 30
    settings.save()
    retention_apply()
    assert drop_after() == {timedelta(days=30)}

    settings.default_retention_days = 90
    settings.save()
    report = retention_apply()
    assert drop_after() == {timedelta(days=90)}
    assert len(report.policy_changes) == 3

    assert retention_apply().policy_changes == []

    settings.default_retention_days = None
    settings.save()
    retention_apply()
    assert drop_after() == {None}


def test_tag_with_a_shorter_retention_loses_its_older_samples_and_rollup_rows(timescale_storage, make_tag):
    settings = HistorianSettings.load()
    settings.default_retention_days = 30
    settings.save()
    short, default = make_tag(retention_days=5), make_tag()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    samples_write_batch(
        rows=[
            SampleRow(now - timedelta(days=days), tag.pk, 1.0, Quality.GOOD)
            for tag in (short, default)
            for days in (10, 2)
        ]
    )

    retention_apply(now=now)

    def days_kept(relation: str, column: str, tag_id: int) -> set[timedelta]:
        rows = _fetch(f"SELECT {column} FROM {relation} WHERE tag_id = %s", [tag_id])  # noqa: S608
        return {now - row[0] for row in rows}

    assert days_kept("historian_sample", "time", short.pk) == {timedelta(days=2)}
    assert days_kept("historian_sample", "time", default.pk) == {timedelta(days=10), timedelta(days=2)}
    assert days_kept(ROLLUP_1M.relation, "bucket", short.pk) == {timedelta(days=2)}
    assert days_kept(ROLLUP_1M.relation, "bucket", default.pk) == {timedelta(days=10), timedelta(days=2)}


def test_chunk_interval_and_compression_age_follow_the_settings(timescale_storage):
    settings = HistorianSettings.load()
    settings.chunk_interval_hours = 6
    settings.compress_after_days = 3
    settings.save()

    report = retention_apply()

    assert len(report.policy_changes) == 2
    assert _fetch(
        "SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = 'historian_sample'"
    ) == [(timedelta(hours=6),)]
    cursor = connection.cursor().cursor
    job = policy_job(cursor, proc_name="policy_compression", relation="historian_sample")
    assert policy_interval(cursor, job, "compress_after") == timedelta(days=3)
