"""Tags to read back, written straight through the samples writer, and the rollup relations."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pytest
from django.db import connection

from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from historian.quality import Quality
from historian.samples import SampleRow
from historian.services.rollups import rollups_refresh
from historian.services.samples import samples_write_batch
from historian.storage import sample_storage

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def make_tag(db) -> Callable[..., Tag]:
    site = Site.objects.create(name="Site")
    area = Area.objects.create(site=site, name="Area")
    line = Line.objects.create(area=area, name="Line")
    machine = Machine.objects.create(line=line, name="Machine")
    device = Device.objects.create(name="PLC", host="127.0.0.1")
    scan_class = ScanClass.objects.create(name="1 s", period_ms=1000)
    made = []

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
