"""Samples storage: one interface, two backends, chosen by what the database has.

TimescaleDB turns `historian_sample` into a hypertable whose chunks appear by themselves, with continuous
aggregates as rollups; plain PostgreSQL uses declarative daily range partitions that this package creates ahead of
time (and, as a last resort, a default partition so that no insert ever fails), and rollup tables that Celery beat
keeps up to date (historian.services.rollups).
"""

from datetime import datetime
from functools import cache

from django.db import connection

from .base import ROLLUP_1H, ROLLUP_1M, ROLLUPS, Rollup, SampleStorage, bucket_floor, rollup_named
from .postgres import PartitionedPostgresStorage
from .timescale import TimescaleStorage


def timescaledb_installed(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    return cursor.fetchone() is not None


@cache
def _storage_for(alias: str, settings_dict_name: str) -> SampleStorage:
    with connection.cursor() as cursor:
        if timescaledb_installed(cursor):
            return TimescaleStorage()
    return PartitionedPostgresStorage()


def sample_storage() -> SampleStorage:
    """The backend of the default database (decided once per process and database name)."""
    return _storage_for(connection.alias, connection.settings_dict["NAME"])


def rollup_watermark(cursor, rollup: str) -> datetime | None:
    """Up to where `historian_rollup_<rollup>` ("1m" or "1h") holds final rows.

    None: the relation is complete up to now (TimescaleDB: a continuous aggregate with real-time aggregation adds
    the buckets not materialized yet), so read it for any range. A datetime W (plain PostgreSQL): buckets before W
    are final in the table (W is a bucket boundary; a bucket is before W when bucket + width <= W), the table has
    no rows from W on: aggregate the raw samples for those (the real-time part).
    On both backends, rows written late behind the watermark reach the rollup at the next refresh (plain
    PostgreSQL: the beat task every 30 s; TimescaleDB: the refresh policy).
    """
    return sample_storage().rollup_watermark(cursor, rollup)


__all__ = [
    "ROLLUPS",
    "ROLLUP_1H",
    "ROLLUP_1M",
    "PartitionedPostgresStorage",
    "Rollup",
    "SampleStorage",
    "TimescaleStorage",
    "bucket_floor",
    "rollup_named",
    "rollup_watermark",
    "sample_storage",
]
