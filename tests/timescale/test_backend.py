"""The project on a real TimescaleDB: migrations, the COPY writer, compression, continuous aggregates, policies.

These run on the TimescaleDB pass of the suite (`MILLWRIGHT_TEST_BACKEND=timescaledb`, see tests/timescale/harness.py)
or against any DATABASE_URL that has TimescaleDB; elsewhere they skip, saying so.

Continuous aggregates and policy jobs cannot run inside a transaction block, so those tests use `transactional_db`
and clean up what they made themselves (Django's flush does not know the time-series tables). They write to tag ids
that no other test uses and need no Tag rows (the samples table has no foreign key).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from historian.quality import Quality
from historian.queries.history import tag_history
from historian.sample_types import SampleRow
from historian.services.samples import samples_write_batch
from historian.storage import sample_storage

pytestmark = pytest.mark.timescale

T0 = datetime(2026, 1, 10, tzinfo=UTC)
TAG_ID = 990_001


def _fetchall(statement: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def _execute(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def timescaledb(db) -> None:
    if sample_storage().name != "timescaledb":
        pytest.skip("needs TimescaleDB: run with MILLWRIGHT_TEST_BACKEND=timescaledb (see tests/timescale/harness.py)")


@pytest.fixture
def timescaledb_committed(transactional_db) -> Iterator[None]:
    """TimescaleDB without a wrapping transaction; the test's samples are deleted afterwards."""
    if sample_storage().name != "timescaledb":
        pytest.skip("needs TimescaleDB: run with MILLWRIGHT_TEST_BACKEND=timescaledb (see tests/timescale/harness.py)")
    yield
    _execute("DELETE FROM historian_sample WHERE tag_id = %s", [TAG_ID])
    _execute("DELETE FROM historian_current_value WHERE tag_id = %s", [TAG_ID])


def _three_days_of_minutes() -> list[SampleRow]:
    return [SampleRow(T0 + timedelta(minutes=m), TAG_ID, float(m % 60), Quality.GOOD) for m in range(3 * 24 * 60)]


def test_migrations_make_the_samples_table_a_hypertable_with_daily_chunks(timescaledb):
    assert _fetchall(
        "SELECT d.column_name, d.time_interval FROM timescaledb_information.hypertables h "
        "JOIN timescaledb_information.dimensions d USING (hypertable_schema, hypertable_name) "
        "WHERE h.hypertable_name = 'historian_sample'"
    ) == [("time", timedelta(days=1))]
    assert _fetchall("SELECT to_regclass('historian_sample_default')") == [(None,)]


def test_binary_copy_writes_land_in_daily_chunks_and_read_back(timescaledb):
    rows = _three_days_of_minutes()

    assert samples_write_batch(rows=rows) == len(rows)

    chunks = _fetchall(
        "SELECT range_start FROM timescaledb_information.chunks WHERE hypertable_name = 'historian_sample' "
        "ORDER BY range_start"
    )
    assert [start for (start,) in chunks] == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    points = tag_history(tag_ids=[TAG_ID], start=T0 + timedelta(days=1), end=T0 + timedelta(days=1, hours=1))
    assert [p.value for p in points[TAG_ID]] == [float(m) for m in range(60)]


def test_a_replayed_batch_on_a_hypertable_stores_no_duplicates(timescaledb):
    rows = _three_days_of_minutes()[:100]
    samples_write_batch(rows=rows)

    samples_write_batch(rows=[*rows, SampleRow(T0 + timedelta(hours=5), TAG_ID, 7.0, Quality.GOOD)])

    assert _fetchall("SELECT count(*) FROM historian_sample WHERE tag_id = %s", [TAG_ID]) == [(101,)]


def test_compressed_chunks_still_read_back_through_the_history_query(timescaledb):
    samples_write_batch(rows=_three_days_of_minutes())
    _execute(
        "ALTER TABLE historian_sample SET (timescaledb.compress, timescaledb.compress_segmentby = 'tag_id', "
        "timescaledb.compress_orderby = 'time')"
    )

    compressed = _fetchall(
        "SELECT compress_chunk(c) FROM show_chunks('historian_sample', older_than => %s) c", [T0 + timedelta(days=2)]
    )

    assert len(compressed) == 2
    assert _fetchall(
        "SELECT is_compressed, count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'historian_sample' GROUP BY is_compressed ORDER BY is_compressed"
    ) == [(False, 1), (True, 2)]
    points = tag_history(tag_ids=[TAG_ID], start=T0, end=T0 + timedelta(days=3), max_points=5000)
    assert len(points[TAG_ID]) == 3 * 24 * 60
    assert points[TAG_ID][61].value == 1.0


def test_a_continuous_aggregate_over_samples_refreshes_on_demand(timescaledb_committed):
    samples_write_batch(rows=_three_days_of_minutes())
    _execute(
        "CREATE MATERIALIZED VIEW harness_probe_1h WITH (timescaledb.continuous) AS "
        "SELECT tag_id, time_bucket('1 hour', time) AS bucket, avg(value) AS mean, count(*) AS n "
        "FROM historian_sample GROUP BY tag_id, bucket WITH NO DATA"
    )
    try:
        _execute(
            "CALL refresh_continuous_aggregate('harness_probe_1h', %s::timestamptz, %s::timestamptz)",
            [T0, T0 + timedelta(days=1)],
        )

        rows = _fetchall("SELECT bucket, mean, n FROM harness_probe_1h WHERE tag_id = %s ORDER BY bucket", [TAG_ID])
    finally:
        _execute("DROP MATERIALIZED VIEW harness_probe_1h")

    assert len(rows) == 24
    assert rows[0] == (T0, 29.5, 60)


def test_run_job_runs_compression_and_retention_policies(timescaledb_committed):
    """Background workers never start in PGlite: a policy runs only when called, which also makes it testable."""
    _execute("CREATE TABLE harness_probe (time timestamptz NOT NULL, value double precision)")
    try:
        _execute("SELECT create_hypertable('harness_probe', by_range('time', INTERVAL '1 day'))")
        _execute(
            "INSERT INTO harness_probe SELECT t, 1.0 FROM generate_series(%s::timestamptz, %s::timestamptz, "
            "INTERVAL '1 hour') t",
            [T0, T0 + timedelta(days=9, hours=23)],
        )
        _execute("ALTER TABLE harness_probe SET (timescaledb.compress, timescaledb.compress_orderby = 'time')")
        [(compression_job,)] = _fetchall(
            "SELECT add_compression_policy('harness_probe', compress_after => INTERVAL '1 day')"
        )
        [(retention_job,)] = _fetchall(
            "SELECT add_retention_policy('harness_probe', drop_after => now() - %s::timestamptz)",
            [T0 + timedelta(days=5)],
        )

        _execute("CALL run_job(%s)", [compression_job])
        compressed = _fetchall(
            "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'harness_probe'"
        )
        _execute("CALL run_job(%s)", [retention_job])
        kept = _fetchall("SELECT min(time), count(*) FROM harness_probe")
    finally:
        _execute("DROP TABLE harness_probe")

    assert compressed == [(10, 10)]
    assert kept == [(T0 + timedelta(days=5), 5 * 24)]
