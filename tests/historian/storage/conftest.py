"""Tags, a clock-independent rollup start, and switches for the backend-specific tests."""

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from django.db import connection

from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from historian.storage import PartitionedPostgresStorage, sample_storage


@pytest.fixture
def make_tag(db) -> Callable[..., Tag]:
    site = Site.objects.create(name="Site")
    area = Area.objects.create(site=site, name="Area")
    line = Line.objects.create(area=area, name="Line")
    machine = Machine.objects.create(line=line, name="Machine")
    device = Device.objects.create(name="PLC", host="127.0.0.1")
    scan_class = ScanClass.objects.create(name="1 s", period_ms=1000)
    made: list[Tag] = []

    def make(**fields) -> Tag:
        n = len(made)
        tag = Tag.objects.create(
            path=f"Site/Area/Line/Machine.t{n}",
            name=f"t{n}",
            machine=machine,
            device=device,
            scan_class=scan_class,
            address=f"HR{2 * n}",
            **fields,
        )
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
    """rolled_from(t): make the rollups' watermarks t, as if everything before t had been rolled up."""

    def set_watermarks(start: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE historian_rollup_state SET rolled_until = %s", [start])
        postgres_storage.cache_clear()

    return set_watermarks
