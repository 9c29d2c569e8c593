"""Samples storage: one interface, two backends, chosen by what the database has.

TimescaleDB turns `historian_sample` into a hypertable whose chunks appear by themselves; plain PostgreSQL uses
declarative daily range partitions that this package creates ahead of time (and, as a last resort, a default
partition so that no insert ever fails).
"""

from functools import cache

from django.db import connection

from .base import SampleStorage
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


__all__ = ["PartitionedPostgresStorage", "SampleStorage", "TimescaleStorage", "sample_storage"]
