"""State intervals derived at ingest, on the real database through the real store path: in order, late, rebuilt."""

import numpy as np
import pytest

from historian.quality import Quality
from historian.sample_types import SampleBatch, SampleRow, datetime_to_us
from ingest.pipeline.buffer import buffer_replay, local_buffer
from production.models import MachineState, StateInterval, StateMapping
from production.services.intervals import intervals_derive_strict, machine_intervals_rebuild
from tests.factories import TagFactory
from tests.production.conftest import at
from tests.production.factories import DowntimeReasonFactory

RUN, IDLE, SETUP, DOWN, PLANNED = (
    MachineState.RUNNING,
    MachineState.IDLE,
    MachineState.SETUP,
    MachineState.UNPLANNED_DOWN,
    MachineState.PLANNED_STOP,
)


def replay(*rows: SampleRow) -> None:
    """Late values as store-and-forward delivers them: buffered, then replayed (writes, then the hooks)."""
    buffer = local_buffer()
    buffer.append(list(rows))
    assert buffer_replay(buffer=buffer, max_seconds=0).replayed == len(rows)


@pytest.mark.timescale
def test_intervals_follow_state_product_and_fault_values_as_they_are_stored(line):
    line.store(0, state=1, product=1, fault=0, good=10)
    line.store(30, state=1, product=1, fault=0, good=11)  # nothing changed but the counter
    line.store(60, state=6, fault=17)  # down on a jam
    line.store(90, state=6, fault=0)  # the fault clears, still down
    line.store(120, state=1)
    line.store(200, product=2)  # changeover without a stop: the product column splits the interval

    assert line.intervals() == [
        (0, 60, RUN, "1", None, False),
        (60, 90, DOWN, "1", "Jam", True),
        (90, 120, DOWN, "1", None, False),
        (120, 200, RUN, "1", None, False),
        (200, None, RUN, "2", None, False),
    ]


def test_a_fault_code_never_classifies_a_running_machine(line):
    line.store(0, state=1, fault=17)
    line.store(10, state=2, fault=17)

    assert line.intervals() == [(0, 10, RUN, None, None, False), (10, None, IDLE, None, "Jam", True)]


def test_a_value_the_mapping_does_not_name_takes_the_unmapped_state_or_leaves_a_gap(line):
    line.store(0, state=1)
    line.store(10, state=99)
    line.config.unmapped_state = ""
    line.config.save()
    line.store(20, state=1)
    line.store(30, state=98)

    assert line.intervals() == [
        (0, 10, RUN, None, None, False),
        (10, 20, DOWN, None, None, False),
        (20, 30, RUN, None, None, False),
    ]


def test_rows_without_source_tags_or_with_unchanged_values_cost_no_query(line, django_assert_num_queries):
    line.store(0, state=1, product=1, fault=0)
    counter = line.tags["good"].pk
    counts = SampleBatch.of(datetime_to_us(at(5)), [counter], [12.0], [Quality.GOOD])
    same = SampleBatch.of(
        datetime_to_us(at(6)), [line.tags["state"].pk, line.tags["product"].pk], [1.0, 1.0], [Quality.GOOD] * 2
    )

    with django_assert_num_queries(0):
        assert intervals_derive_strict(rows=counts, now=at(5)) == 0
        assert intervals_derive_strict(rows=same, now=at(6)) == 0

    changed = SampleBatch.of(datetime_to_us(at(7)), [line.tags["state"].pk], [np.float64(2)], [Quality.GOOD])
    assert intervals_derive_strict(rows=changed, now=at(7)) == 2  # the running one closed, the idle one opened


@pytest.mark.timescale
def test_a_late_value_derives_again_only_the_interval_it_falls_in(line, django_user_model):
    line.store(0, state=1)
    line.store(100, state=6)
    line.store(200, state=1)
    first, down, last = StateInterval.objects.filter(machine=line.config.machine).order_by("start")
    operator = django_user_model.objects.create_user("olga")
    jam = DowntimeReasonFactory(category__site=line.config.machine.line.area.site, name="Stuck part")
    down.reason, down.comment, down.classified_by, down.classified_at = jam, "pliers", operator, at(300)
    down.save()

    # Store-and-forward replays a value read at 150 s: the stop turned into a changeover there.
    replay(SampleRow(at(150), line.tags["state"].pk, 4.0, Quality.GOOD))

    assert line.intervals() == [
        (0, 100, RUN, None, None, False),
        (100, 150, DOWN, None, "Stuck part", False),
        (150, 200, SETUP, None, None, False),
        (200, None, RUN, None, None, False),
    ]
    kept = StateInterval.objects.filter(machine=line.config.machine).order_by("start")
    assert [kept[0].pk, kept[3].pk] == [first.pk, last.pk]  # the intervals it does not touch are not rewritten
    assert (kept[1].comment, kept[1].classified_by) == ("pliers", operator)


@pytest.mark.timescale
def test_backfilled_history_before_the_first_interval_and_a_late_value_that_merges_two(line):
    line.store(1000, state=1)
    line.store(1100, state=2)
    line.store(1200, state=1)

    # Sparkplug history: older values arrive after the live ones.
    replay(
        SampleRow(at(0), line.tags["state"].pk, 4.0, Quality.GOOD),
        SampleRow(at(500), line.tags["state"].pk, 1.0, Quality.GOOD),
    )
    assert line.intervals() == [
        (0, 500, SETUP, None, None, False),
        (500, 1100, RUN, None, None, False),
        (1100, 1200, IDLE, None, None, False),
        (1200, None, RUN, None, None, False),
    ]

    # A late "running" inside the idle stop: the stop was shorter, and the two running intervals around 1200 s are
    # one.
    replay(SampleRow(at(1150), line.tags["state"].pk, 1.0, Quality.GOOD))
    assert line.intervals() == [
        (0, 500, SETUP, None, None, False),
        (500, 1100, RUN, None, None, False),
        (1100, 1150, IDLE, None, None, False),
        (1150, None, RUN, None, None, False),
    ]


def test_a_late_product_value_splits_the_interval_it_falls_in(line):
    line.store(0, state=1, product=1)
    line.store(300, state=6)

    replay(SampleRow(at(120), line.tags["product"].pk, 2.0, Quality.GOOD))

    assert line.intervals() == [
        (0, 120, RUN, "1", None, False),
        (120, 300, RUN, "2", None, False),
        (300, None, DOWN, "2", None, False),
    ]


@pytest.mark.timescale
def test_a_rebuild_after_a_mapping_change_rederives_the_machines_intervals_from_history(line):
    line.store(0, state=1, product=1)
    line.store(60, state=5)
    line.store(120, state=1)
    line.store(180, state=5)
    assert [iv[2] for iv in line.intervals()] == [RUN, PLANNED, RUN, PLANNED]

    # Code 5 was a mistake: it means "idle" on this machine.
    StateMapping.objects.filter(machine_production=line.config, value=5).update(state=IDLE)
    written = machine_intervals_rebuild(machine_id=line.config.machine_id)

    assert line.intervals() == [
        (0, 60, RUN, "1", None, False),
        (60, 120, IDLE, "1", None, False),
        (120, 180, RUN, "1", None, False),
        (180, None, IDLE, "1", None, False),
    ]
    assert written == 4  # the two planned stops replaced by two idles; the running ones kept
    assert machine_intervals_rebuild(machine_id=line.config.machine_id) == 0  # nothing left to change

    line.store(240, state=1)  # and derivation at ingest goes on from the rebuilt state
    assert line.intervals()[-2:] == [(180, 240, IDLE, "1", None, False), (240, None, RUN, "1", None, False)]


def test_a_string_product_tag_names_the_product(line, django_assert_num_queries):
    from historian.models import DataType
    from ingest.pipeline.store import readings_store
    from ingest.protocols.base import PointReading

    text = TagFactory(
        machine=line.config.machine, device=line.config.state_tag.device, data_type=DataType.STRING, address="HR800:8"
    )
    line.config.product_tag = text
    line.config.save()
    tags = {t.pk: t for t in (line.tags["state"], text)}

    def store(seconds: float, state: int, product: str) -> None:
        readings = [PointReading(line.tags["state"].pk, float(state), Quality.GOOD)]
        readings.append(PointReading(text.pk, product, Quality.GOOD))
        readings_store(context=line.context, device=text.device, tags=tags, readings=readings, read_at=at(seconds))

    store(0, 1, "1")
    store(60, 1, "2")
    store(90, 1, "2")

    assert line.intervals() == [(0, 60, RUN, "1", None, False), (60, None, RUN, "2", None, False)]
    # The text reaches the hook without its value: a read of the current text (through historian.queries, not
    # the ORM) tells that nothing changed, with no transaction, lock or interval read.
    unchanged = [SampleRow(at(95), line.tags["state"].pk, 1.0, Quality.GOOD), SampleRow(at(95), text.pk, None, 192)]
    with django_assert_num_queries(0):
        assert intervals_derive_strict(rows=unchanged, now=at(95)) == 0
    assert machine_intervals_rebuild(machine_id=line.config.machine_id) == 0


def test_the_hook_is_registered_with_the_store():
    from ingest.pipeline.context import IngestContext
    from ingest.pipeline.hooks import after_store_factories
    from production.services.intervals import intervals_derive, intervals_hook

    assert intervals_hook in after_store_factories()
    assert intervals_derive in IngestContext().hooks


def test_a_batch_of_late_and_new_values_derives_both(line):
    line.store(0, state=1, product=1)
    line.store(30, product=2)
    line.store(60, state=2)
    line.store(100, state=1)

    # One delivery (Sparkplug history and live values together): a product read at 10 s that no product of the site
    # has, and a breakdown at 300 s.
    replay(
        SampleRow(at(10), line.tags["product"].pk, 3.0, Quality.GOOD),
        SampleRow(at(300), line.tags["state"].pk, 6.0, Quality.GOOD),
    )

    assert line.intervals() == [
        (0, 10, RUN, "1", None, False),
        (10, 30, RUN, None, None, False),
        (30, 60, RUN, "2", None, False),
        (60, 100, IDLE, "2", None, False),
        (100, 300, RUN, "2", None, False),
        (300, None, DOWN, "2", None, False),
    ]
