"""Tags, a clock-independent rollup start, and switches for the backend-specific tests."""

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from django.db import connection

from historian.storage import PartitionedPostgresStorage, sample_storage


@pytest.fixture
def postgres_storage(db) -> Iterator[PartitionedPostgresStorage]:
    storage = sample_storage()
    if not isinstance(storage, PartitionedPostgresStorage):
        pytest.skip(f"plain PostgreSQL storage only (this database runs {storage.name})")
    storage.cache_clear()
    yield storage
    storage.cache_clear()


@pytest.fixture
def timescale_storage(db):
    storage = sample_storage()
    if storage.name != "timescaledb":
        pytest.skip("TimescaleDB only: run with MILLWRIGHT_TEST_BACKEND=timescaledb (tests/timescale/)")
    return storage


@pytest.fixture
def rolled_from(postgres_storage) -> Callable[[datetime], None]:
    """rolled_from(t): make the rollups' watermarks t, as if everything before t had been rolled up."""

    def set_watermarks(start: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE historian_rollup_state SET rolled_until = %s", [start])
        postgres_storage.cache_clear()

    return set_watermarks
