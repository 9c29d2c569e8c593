"""The edge publisher's outbox: what the after-store hook keeps, and what an acknowledgement removes."""

from datetime import UTC, datetime, timedelta

import pytest

from historian.models import EdgePublication, Tag
from historian.quality import Quality
from historian.sample_types import SampleRow
from ingest.pipeline.context import IngestContext
from ingest.pipeline.edge_outbox import EdgeOutboxHook, edge_outbox
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from tests.factories import DeviceFactory, MachineFactory, TagFactory


@pytest.fixture
def tags(db) -> list[Tag]:
    machine, device = MachineFactory(), DeviceFactory()
    return [TagFactory(machine=machine, device=device, data_type="float64") for _ in range(2)]


def _enable() -> None:
    EdgePublication.objects.create(name="central", host="127.0.0.1", group_id="G", edge_node_id="Site")


def test_the_hook_keeps_only_published_tags_while_a_publication_is_enabled(tags):
    now = datetime.now(UTC)
    rows = [SampleRow(now, tags[0].pk, 1.0, Quality.GOOD), SampleRow(now, tags[1].pk, 2.0, Quality.GOOD)]
    assert EdgeOutboxHook()(rows=rows, now=now) == 0  # nothing marked, no publication
    Tag.objects.filter(pk=tags[0].pk).update(edge_publish=True)
    assert EdgeOutboxHook()(rows=rows, now=now) == 0  # no publication enabled
    _enable()
    assert EdgeOutboxHook()(rows=rows, now=now) == 1
    assert [row for _, row in edge_outbox().peek(10)] == [rows[0]]


def test_values_stored_through_the_pipeline_reach_the_outbox_in_time_order(tags):
    Tag.objects.filter(pk=tags[0].pk).update(edge_publish=True)
    _enable()
    context = IngestContext()
    start = datetime.now(UTC).replace(microsecond=0)
    device = tags[0].device
    by_pk = {t.pk: t for t in tags}
    for i in range(3):
        readings = [PointReading(t.pk, 10.0 + i, Quality.GOOD) for t in tags]
        at = start + timedelta(seconds=i)
        readings_store(context=context, device=device, tags=by_pk, readings=readings, read_at=at)
    queued = [row for _, row in edge_outbox().peek(10)]
    assert [(r.tag_id, r.time, r.value) for r in queued] == [
        (tags[0].pk, start + timedelta(seconds=i), 10.0 + i) for i in range(3)
    ]


def test_acknowledged_rows_leave_and_the_newest_per_tag_is_remembered(tags):
    outbox = edge_outbox()
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [SampleRow(now + timedelta(seconds=i), tags[0].pk, float(i), Quality.GOOD) for i in range(3)]
    outbox.append(rows)
    batch = outbox.peek(2)
    outbox.acknowledged([i for i, _ in batch], [r for _, r in batch])
    assert outbox.depth() == 1
    assert outbox.last_sent() == {tags[0].pk: rows[1]}
    outbox.acknowledged([], [rows[0]])  # an older row acknowledged again (a resend) does not go back in time
    assert outbox.last_sent() == {tags[0].pk: rows[1]}
