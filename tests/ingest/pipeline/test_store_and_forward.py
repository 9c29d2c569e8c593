"""Polling goes on while PostgreSQL is unreachable or too slow; nothing polled is lost, nothing stored twice."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from alarms.models import Alarm, AlarmDefinition, JournalEntry
from historian.models import Tag
from historian.quality import Quality
from historian.queries.history import current_values
from ingest.acquisition.poll import Polling, PollOutcome, device_poll
from ingest.pipeline import store
from ingest.pipeline.buffer import buffer_replay, local_buffer
from ingest.protocols.base import PointReading
from tests.samples import reading_store, stored_samples
from tests.tcp_proxy import TcpProxy
from tests.waiting import wait_until


@pytest.fixture
def database_proxy(transactional_db) -> Iterator[TcpProxy]:
    """This process's database connection goes through a proxy the test can cut; the server keeps running."""
    settings_dict = connection.settings_dict
    saved = settings_dict["HOST"], settings_dict["PORT"]
    proxy = TcpProxy(saved[0] or "127.0.0.1", int(saved[1] or 5432)).start()
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", proxy.port
    yield proxy
    proxy.restore()
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = saved
    proxy.close()
    # The server ends the sessions of reset connections a moment later; the test database is dropped after.
    wait_until(lambda: _other_sessions() == 0, timeout=10, what="the proxied sessions to end")


def _other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _poll(polling: Polling, device, scan_class) -> PollOutcome:
    return device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)


def test_values_polled_while_postgresql_is_unreachable_are_all_stored_once_it_returns(
    polling, database_proxy, device, scan_class
):
    tag_ids = list(Tag.objects.filter(device=device).values_list("pk", flat=True))
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")  # analog, no deadband: every poll stored
    before = [_poll(polling, device, scan_class) for _ in range(3)]

    database_proxy.cut()
    during = [_poll(polling, device, scan_class) for _ in range(4)]
    buffered_depth = local_buffer().depth()

    database_proxy.restore()
    after = [_poll(polling, device, scan_class) for _ in range(2)]
    buffer_replay()

    outcomes = before + during + after
    assert [o.status for o in outcomes] == ["stored"] * 9
    assert all(o.buffered == 0 for o in before + after)
    assert all(o.buffered == o.stored > 0 for o in during)
    assert buffered_depth == sum(o.buffered for o in during)
    assert local_buffer().depth() == 0
    rows = stored_samples(tag_ids)
    assert len(rows) == sum(o.stored for o in outcomes)
    assert len({(tag_id, time) for tag_id, time, _, _ in rows}) == len(rows)
    assert len([r for r in rows if r[0] == speed.pk]) == 9
    assert {quality for *_, quality in rows} == {Quality.GOOD}


def test_a_database_slower_than_the_write_budget_sends_values_to_the_buffer(
    polling, database_proxy, device, scan_class, settings
):
    settings.INGEST_DB_WRITE_TIMEOUT_MS = 300
    _poll(polling, device, scan_class)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.update(host=database_proxy.upstream[0], port=database_proxy.upstream[1])

    with psycopg.connect(**params) as blocker:
        blocker.execute("LOCK TABLE historian_sample IN ACCESS EXCLUSIVE MODE")  # a stuck database
        slow = _poll(polling, device, scan_class)
        blocker.rollback()

    assert slow.status == "stored"
    assert slow.buffered == slow.stored > 0
    later = _poll(polling, device, scan_class)
    assert later.buffered == 0
    assert later.replayed == slow.buffered
    assert local_buffer().depth() == 0


def test_strings_read_while_postgresql_is_unreachable_wait_in_the_buffer_as_text(
    ingest_context, database_proxy, device, scan_class
):
    program = Tag.objects.create(
        path="Demo/program",
        name="program",
        machine=device.tags.first().machine,
        device=device,
        scan_class=scan_class,
        address="HR90:4",
        data_type="string",
    )
    tags = {program.pk: program}
    first = timezone.now()
    store.readings_store(
        context=ingest_context, device=device, tags=tags, readings=[PointReading(program.pk, "42", 192)], read_at=first
    )

    database_proxy.cut()
    during = store.readings_store(
        context=ingest_context,
        device=device,
        tags=tags,
        readings=[PointReading(program.pk, "0042", 192)],  # "0042" and "42" are different texts
        read_at=first + timedelta(seconds=1),
    )
    database_proxy.restore()
    buffer_replay()

    assert (during.stored, during.buffered) == (1, 1)
    assert local_buffer().depth() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM historian_text_sample WHERE tag_id = %s ORDER BY time", [program.pk])
        assert cursor.fetchall() == [("42",), ("0042",)]
    assert current_values(tag_ids=[program.pk])[program.pk].value == "0042"  # the replay brought it up to date


T0 = datetime(2026, 3, 1, 4, 41, 20, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _speed_alarm(limit: float) -> tuple[Tag, AlarmDefinition]:
    """A high alarm on a tag that historizes every value (no deadband, no swinging door)."""
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")
    AlarmDefinition.objects.all().delete()
    definition = AlarmDefinition.objects.create(tag=speed, name="overspeed", kind="hi", limit=limit, priority="high")
    return speed, definition


def _journal(definition) -> list[tuple]:
    return list(
        JournalEntry.objects.filter(alarm_id=definition.pk).order_by("id").values_list("event", "time", "value")
    )


def test_values_buffered_during_an_outage_are_evaluated_at_their_own_times_once_replayed(
    ingest_context, database_proxy, device
):
    speed, overspeed = _speed_alarm(limit=1000.0)
    reading_store(ingest_context, device, speed, _at(0), 900.0)

    database_proxy.cut()
    during = [reading_store(ingest_context, device, speed, _at(t), v) for t, v in ((1, 1200.0), (2, 1250.0), (3, 800))]
    database_proxy.restore()
    # The first batch after recovery replays the buffer.
    after = reading_store(ingest_context, device, speed, _at(9), 850.0)

    assert [o.buffered for o in during] == [1, 1, 1]
    assert after.replayed == 3
    # the door closed at 04:41:21 is journalled at 04:41:21, not at 04:41:29
    assert _journal(overspeed) == [("activate", _at(1), 1200.0), ("clear", _at(3), 800.0)]


def test_batches_stored_while_the_buffer_drains_are_evaluated_after_the_older_buffered_values(
    ingest_context, database_proxy, device, settings
):
    settings.INGEST_REPLAY_BATCH_ROWS = 1  # one buffered value replayed per write: the catch-up takes three writes
    speed, overspeed = _speed_alarm(limit=1000.0)
    reading_store(ingest_context, device, speed, _at(0), 900.0)

    database_proxy.cut()
    for t, v in ((1, 1200.0), (2, 1250.0), (3, 800.0)):
        reading_store(ingest_context, device, speed, _at(t), v)
    database_proxy.restore()
    for t in (4, 5, 6):  # above the limit again, written while older values still wait in the buffer
        reading_store(ingest_context, device, speed, _at(t), 1300.0)

    assert local_buffer().depth() == 0
    assert _journal(overspeed) == [
        ("activate", _at(1), 1200.0),
        ("clear", _at(3), 800.0),
        ("activate", _at(4), 1300.0),
    ]
    assert Alarm.objects.get(pk=overspeed.pk).state == "unack_active"


def test_the_replay_task_hands_buffered_values_to_the_alarms_at_their_own_times(ingest_context, database_proxy, device):
    speed, overspeed = _speed_alarm(limit=1000.0)
    reading_store(ingest_context, device, speed, _at(0), 900.0)
    database_proxy.cut()
    reading_store(ingest_context, device, speed, _at(1), 1200.0)
    database_proxy.restore()

    assert buffer_replay().replayed == 1  # what ingest.tasks' replay task runs, no poll needed

    assert _journal(overspeed) == [("activate", _at(1), 1200.0)]


def test_a_link_lost_during_an_outage_alarms_at_its_time_a_device_taken_out_of_service_alarms_no_one(
    ingest_context, database_proxy, device
):
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")
    AlarmDefinition.objects.all().delete()
    bad = AlarmDefinition.objects.create(tag=speed, name="no signal", kind="bad_quality", priority="high")
    reading_store(ingest_context, device, speed, _at(0), 900.0)

    database_proxy.cut()
    store.device_link_lost(
        context=ingest_context, device=device, tags={speed.pk: speed}, error="timed out", failed_at=_at(1)
    )
    reading_store(ingest_context, device, speed, _at(2), 900.0)  # the link is back
    store.device_out_of_service_store(
        context=ingest_context, tags={speed.pk: speed}, at=_at(3)
    )  # then someone switches the device off
    database_proxy.restore()
    buffer_replay()

    assert [(e, t) for e, t, _ in _journal(bad)] == [("activate", _at(1)), ("clear", _at(2))]
