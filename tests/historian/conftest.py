"""Fixtures shared by the historian's storage, service and query tests: tags, a clock-independent rollup start,
and switches for the backend-specific tests."""

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from django.db import connection

from historian.models import Tag
from historian.storage import PartitionedPostgresStorage, sample_storage
from tests.factories import DeviceFactory, MachineFactory, ScanClassFactory, TagFactory


@pytest.fixture
def make_tag(db) -> Callable[..., Tag]:
    """`make_tag(**fields)`: tags t0, t1, ... of one machine (Site/Area/Line/Machine), one device, one scan class."""
    machine = MachineFactory(name="Machine", line__name="Line", line__area__name="Area", line__area__site__name="Site")
    device = DeviceFactory(name="PLC")
    scan_class = ScanClassFactory(name="1 s", period_ms=1000)
    made = []

    def make(**fields) -> Tag:
        n = len(made)
        fields.setdefault("address", f"HR{2 * n}")
        tag = TagFactory(name=f"t{n}", machine=machine, device=device, scan_class=scan_class, **fields)
        made.append(tag)
        return tag

    return make


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
    """rolled_from(t): make the rollups' watermarks t, as if everything before t had been rolled up, with nothing
    noted late (the notes are no Django model: a transactional test's flush leaves another test's behind)."""

    def set_watermarks(start: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE historian_rollup_state SET rolled_until = %s", [start])
            cursor.execute("DELETE FROM historian_rollup_dirty")
        postgres_storage.cache_clear()

    return set_watermarks
