"""TimescaleDB: a hypertable whose chunks appear by themselves, continuous aggregates refreshed by policies.

What the plain PostgreSQL backend does in Celery tasks is done here by TimescaleDB's own jobs: the rollups are
continuous aggregates (real-time: a query adds what is not materialized yet) refreshed by policies that also
re-aggregate buckets changed by late rows (TimescaleDB logs such changes itself), and chunks are compressed and
dropped by compression and retention policies. The application only keeps those policies in line with the settings
and deletes the rows of tags whose own retention is shorter than the policy's.
"""

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from psycopg import sql

from historian.sample_types import SAMPLE_TABLE, SampleBatch

from .base import ROLLUP_1H, ROLLUP_1M, RollupStep, SampleStorage, rollup_named


def policy_job(cursor, *, proc_name: str, relation: str) -> tuple[int, dict] | None:
    """(job id, config) of the policy `proc_name` (e.g. policy_retention) on a hypertable or continuous aggregate."""
    # The jobs view names a continuous aggregate's policies by the aggregate (2.23) or, in older versions, by its
    # materialization hypertable. The config is read as text: Django's connection leaves jsonb undecoded.
    cursor.execute(
        "SELECT j.job_id, j.config::text FROM timescaledb_information.jobs AS j "
        "WHERE j.proc_name = %s AND j.hypertable_name IN (%s, coalesce("
        "(SELECT materialization_hypertable_name FROM timescaledb_information.continuous_aggregates "
        "WHERE view_name = %s), %s)) ORDER BY j.job_id LIMIT 1",
        [proc_name, relation, relation, relation],
    )
    row = cursor.fetchone()
    return None if row is None else (row[0], json.loads(row[1]))


def policy_interval(cursor, job: tuple[int, dict] | None, key: str) -> timedelta | None:
    """The interval setting `key` of a policy job (e.g. drop_after), None without the job or the setting."""
    if job is None or job[1].get(key) is None:
        return None
    cursor.execute("SELECT %s::interval", [job[1][key]])
    return cursor.fetchone()[0]


class TimescaleStorage(SampleStorage):
    """A hypertable: TimescaleDB creates chunks on insert, so there is nothing to prepare ahead."""

    name = "timescaledb"
    maintains_rollups = False

    def prepare_days(self, cursor, days: Iterable[date]) -> None:
        return None

    def days_prepared(self, days: Iterable[date]) -> bool:
        return True

    def create_ahead(self, cursor, *, start: datetime, days: int) -> list[str]:
        return []

    def rollup_watermark(self, cursor, rollup: str) -> datetime | None:
        rollup_named(rollup)  # a bad name is an error on both backends
        return None

    def late_rows_record(self, cursor, rows: SampleBatch) -> int:
        # TimescaleDB's invalidation log notes changes behind the continuous aggregates' watermarks.
        return 0

    def rollups_reroll_late(self, cursor, *, max_buckets: int) -> RollupStep | None:
        raise NotImplementedError("TimescaleDB refresh policies maintain the continuous aggregates")

    def rollups_advance(self, cursor, *, target: datetime) -> RollupStep | None:
        raise NotImplementedError("TimescaleDB refresh policies maintain the continuous aggregates")

    def policies_sync(
        self, cursor, *, drop_after_days: int | None, chunk_hours: int, compress_after_days: int
    ) -> list[str]:
        changes = []
        cursor.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = %s AND column_name = 'time'",
            [SAMPLE_TABLE],
        )
        chunk = timedelta(hours=chunk_hours)
        if cursor.fetchone()[0] != chunk:
            cursor.execute("SELECT set_chunk_time_interval(%s, %s::interval)", [SAMPLE_TABLE, chunk])
            changes.append(f"{SAMPLE_TABLE}: chunk interval {chunk} (new chunks)")

        compress_after = timedelta(days=compress_after_days)
        job = policy_job(cursor, proc_name="policy_compression", relation=SAMPLE_TABLE)
        if policy_interval(cursor, job, "compress_after") != compress_after:
            if job is not None:
                cursor.execute("SELECT remove_compression_policy(%s, if_exists => true)", [SAMPLE_TABLE])
            cursor.execute(
                "SELECT add_compression_policy(%s, compress_after => %s::interval)", [SAMPLE_TABLE, compress_after]
            )
            changes.append(f"{SAMPLE_TABLE}: compress after {compress_after}")

        # The rollups keep what the samples keep: the same policy on the hypertable and both aggregates.
        drop_after = None if drop_after_days is None else timedelta(days=drop_after_days)
        for relation in (SAMPLE_TABLE, ROLLUP_1M.relation, ROLLUP_1H.relation):
            job = policy_job(cursor, proc_name="policy_retention", relation=relation)
            if policy_interval(cursor, job, "drop_after") == drop_after:
                continue
            if job is not None:
                cursor.execute("SELECT remove_retention_policy(%s, if_exists => true)", [relation])
            if drop_after is None:
                changes.append(f"{relation}: retention policy removed")
                continue
            cursor.execute("SELECT add_retention_policy(%s, drop_after => %s::interval)", [relation, drop_after])
            changes.append(f"{relation}: drop chunks older than {drop_after}")
        return changes

    def partitions_drop_before(self, cursor, *, cutoff: datetime) -> list[str]:
        # The retention policy (see policies_sync) drops chunks in the background.
        return []

    def tag_history_delete_before(self, cursor, *, tag_id: int, cutoff: datetime) -> int:
        # Rows in compressed chunks can be deleted (TimescaleDB 2.11+), only more slowly. The continuous aggregates
        # follow at their next refresh: the delete is logged as an invalidation of its time range.
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE tag_id = %s AND time < %s").format(sql.Identifier(SAMPLE_TABLE)),
            [tag_id, cutoff],
        )
        return cursor.rowcount

    def rollups_delete_before(
        self, cursor, *, cutoffs: Mapping[int, datetime], other_tags_cutoff: datetime | None
    ) -> int:
        # Continuous aggregates cannot be deleted from: they follow the samples (invalidation + refresh policy).
        return 0
