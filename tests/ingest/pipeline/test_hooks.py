"""After-store hooks: what the store hands over once values are in the database, and a failing hook's reach."""

from datetime import UTC, datetime, timedelta

import pytest

from alarms.models import AlarmDefinition, JournalEntry
from alarms.services.evaluation import AlarmEvaluation
from historian.models import Tag
from historian.queries.history import current_values
from historian.sample_types import SampleRow
from historian.services.samples import as_batch
from ingest.pipeline import hooks, store
from ingest.pipeline.context import IngestContext
from ingest.pipeline.hooks import after_store_factories, register_after_store, unregister_after_store
from ingest.protocols.base import PointReading

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def registered():
    """Register hooks for one test (after the ones the apps registered), unregister them after. A context made
    afterwards calls them."""
    added = []

    def add(hook):
        added.append(register_after_store(lambda: hook))
        return hook

    yield add
    for make_hook in added:
        unregister_after_store(make_hook)


def test_alarms_register_their_evaluation_as_an_after_store_hook_once():
    assert after_store_factories().count(AlarmEvaluation) == 1
    register_after_store(AlarmEvaluation)  # a second ready() (or registration) adds nothing
    assert after_store_factories().count(AlarmEvaluation) == 1


def test_each_writer_has_an_alarm_evaluation_of_its_own():
    first, second = IngestContext(), IngestContext()
    evaluations = [[h for h in context.hooks if isinstance(h, AlarmEvaluation)] for context in (first, second)]

    assert [len(found) for found in evaluations] == [1, 1]
    assert evaluations[0][0] is not evaluations[1][0]
    assert evaluations[0][0].rates is not evaluations[1][0].rates


def test_a_failing_hook_loses_no_sample_and_stops_no_other_hook(registered, device, machine, db):
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")
    seen: list[tuple] = []

    def broken(*, rows, now):
        raise RuntimeError("a hook that breaks")

    def recorder(*, rows, now):
        seen.append((now, [(r.tag_id, r.value) for r in as_batch(rows).rows()]))

    registered(broken)
    registered(recorder)
    AlarmDefinition.objects.all().delete()
    AlarmDefinition.objects.create(tag=speed, name="overspeed", kind="hi", limit=1000.0, priority="high")

    outcome = store.readings_store(
        context=IngestContext(),
        device=device,
        tags={speed.pk: speed},
        readings=[PointReading(speed.pk, 1500.0, 192)],
        read_at=T0,
    )

    assert outcome.stored == 1
    assert current_values(tag_ids=[speed.pk])[speed.pk].value == 1500.0
    assert seen == [(T0, [(speed.pk, 1500.0)])]  # the hook after the broken one ran, with the stored rows
    # and the alarms' own hook (registered before both) raised the alarm
    assert list(JournalEntry.objects.all().values_list("event", "time")) == [("activate", T0)]


def test_hooks_are_called_with_the_rows_once_the_write_returned(registered, device, db):
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")
    in_database_when_called: list[float | None] = []

    def reader(*, rows, now):
        in_database_when_called.append(current_values(tag_ids=[speed.pk])[speed.pk].value)

    registered(reader)
    context = IngestContext()
    store.readings_store(
        context=context,
        device=device,
        tags={speed.pk: speed},
        readings=[PointReading(speed.pk, 1234.0, 192)],
        read_at=T0,
    )

    assert in_database_when_called == [1234.0]
    assert context.hooks[-1] is reader


def test_batches_held_behind_the_buffer_are_handed_over_in_order_and_bounded():
    seen: list[datetime] = []
    held = hooks.HeldBatches(max_rows=2)
    for second in range(3):
        held.hold(rows=[SampleRow(T0, 1, float(second), 192)], now=T0 + timedelta(seconds=second))

    held.release([lambda *, rows, now: seen.append(now)])

    assert seen == [T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]  # the oldest dropped past max_rows
    assert len(held) == 0
