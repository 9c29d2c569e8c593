"""String tags through the ingest write path: stored on change, current value, live push, link lost, buffer."""

import sqlite3
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection

from historian.models import Tag
from historian.quality import Quality
from historian.queries.history import current_values
from historian.sample_types import SampleRow, TextSampleRow
from historian.services.live import machine_live_group
from ingest.acquisition.poll import device_poll
from ingest.pipeline import store
from ingest.pipeline.buffer import SampleBuffer, buffer_replay
from ingest.pipeline.context import IngestContext
from ingest.protocols.base import PointReading

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _texts(tag_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT time, value, quality FROM historian_text_sample WHERE tag_id = %s ORDER BY time", [tag_id]
        )
        return cursor.fetchall()


def _numeric_rows(tag_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM historian_sample WHERE tag_id = %s", [tag_id])
        return cursor.fetchone()[0]


def _store(context: IngestContext, device, tags, seconds: float, *readings: tuple[int, str | None, int]):
    return store.readings_store(
        context=context,
        device=device,
        tags={tag.pk: tag for tag in tags},
        readings=[PointReading(tag_id, value, quality) for tag_id, value, quality in readings],
        read_at=T0 + timedelta(seconds=seconds),
    )


def test_a_string_is_stored_on_change_and_on_a_quality_change_only(ingest_context, device, program):
    good, uncertain = Quality.GOOD, Quality.UNCERTAIN
    for second, text, quality in [
        (0, "PRG-1", good),
        (1, "PRG-1", good),  # unchanged: not stored
        (2, "PRG-2", good),
        (3, "PRG-2", uncertain),  # same text, other quality: stored
        (4, "PRG-2", uncertain),
    ]:
        _store(ingest_context, device, [program], second, (program.pk, text, quality))

    assert _texts(program.pk) == [
        (T0, "PRG-1", good),
        (T0 + timedelta(seconds=2), "PRG-2", good),
        (T0 + timedelta(seconds=3), "PRG-2", uncertain),
    ]
    assert _numeric_rows(program.pk) == 0  # never in the numeric table
    current = current_values(tag_ids=[program.pk])[program.pk]
    assert (current.time, current.value, current.quality) == (T0 + timedelta(seconds=4), "PRG-2", uncertain)


def test_an_unchanged_string_is_stored_again_after_max_store_interval(ingest_context, device, program):
    program.max_store_interval_seconds = 10
    for second in (0, 5, 10, 15, 21):
        _store(ingest_context, device, [program], second, (program.pk, "same", Quality.GOOD))
    assert [row[0] for row in _texts(program.pk)] == [T0 + timedelta(seconds=s) for s in (0, 10, 21)]


def test_a_string_tag_not_historized_still_has_a_current_value(ingest_context, device, program):
    program.historize = False
    _store(ingest_context, device, [program], 0, (program.pk, "only now", Quality.GOOD))
    assert _texts(program.pk) == []
    assert current_values(tag_ids=[program.pk])[program.pk].value == "only now"


def test_strings_and_numbers_of_one_batch_each_go_their_own_way(ingest_context, device, program, machine_tags):
    speed = next(t for t in machine_tags if t.path.endswith("spindle_speed"))
    outcome = _store(
        ingest_context, device, [program, speed], 0, (program.pk, "PRG-9", Quality.GOOD), (speed.pk, 1500.0, 192)
    )
    assert outcome.stored == 2
    assert _texts(program.pk) == [(T0, "PRG-9", Quality.GOOD)]
    assert _numeric_rows(speed.pk) == 1
    values = current_values(tag_ids=[program.pk, speed.pk])
    assert (values[program.pk].value, values[speed.pk].value) == ("PRG-9", 1500.0)


def test_a_string_is_pushed_live_as_text(ingest_context, device, program, machine):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(machine_live_group(machine.pk), channel)

    _store(ingest_context, device, [program], 0, (program.pk, "PRG-7", Quality.GOOD))
    message = async_to_sync(layer.receive)(channel)

    assert message["samples"] == [[program.pk, round(T0.timestamp() * 1000), "PRG-7", Quality.GOOD]]


def test_a_poll_reads_a_string_tag_from_the_device(polling, device, scan_class, program):
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    rows = _texts(program.pk)
    assert [(value, quality) for _, value, quality in rows] == [("", Quality.GOOD)]  # stored once: unchanged
    assert current_values(tag_ids=[program.pk])[program.pk].value == ""


def test_a_lost_link_stores_one_bad_row_per_string_tag(ingest_context, device, program, machine_tags):
    tags = {tag.pk: tag for tag in [program, *machine_tags]}  # the machine's numeric tags, and the string tag
    _store(ingest_context, device, [program], 0, (program.pk, "PRG-1", Quality.GOOD))
    at = T0 + timedelta(seconds=5)

    outcome = store.device_link_lost(
        context=ingest_context, device=device, tags=tags, error="connection refused", failed_at=at
    )

    assert _texts(program.pk) == [(T0, "PRG-1", Quality.GOOD), (at, None, Quality.BAD_COMM_FAILURE)]
    assert outcome.stored == len(tags)  # one bad row per tag, numeric or string
    current = current_values(tag_ids=[program.pk])[program.pk]
    assert (current.value, current.quality) == (None, Quality.BAD_COMM_FAILURE)
    # The link comes back with the same text: a quality change, so it is stored.
    device.status = "connected"
    _store(ingest_context, device, [program], 10, (program.pk, "PRG-1", Quality.GOOD))
    assert _texts(program.pk)[-1] == (T0 + timedelta(seconds=10), "PRG-1", Quality.GOOD)


def test_text_rows_wait_in_the_buffer_as_text_and_are_replayed_into_the_text_table(program, tmp_path):
    buffer = SampleBuffer(tmp_path / "b.sqlite", max_rows=100)
    texts = [
        TextSampleRow(T0, program.pk, "42", Quality.GOOD),
        TextSampleRow(T0 + timedelta(seconds=1), program.pk, None, 0),
    ]
    buffer.append(texts)
    buffer.append([SampleRow(T0, program.pk + 1000, 42.0, Quality.GOOD)])

    peeked = [row for _, row in buffer.peek(10)]
    assert TextSampleRow(T0, program.pk, "42", Quality.GOOD) in peeked  # "42" stays text, not the number 42.0
    assert SampleRow(T0, program.pk + 1000, 42.0, Quality.GOOD) in peeked

    assert buffer_replay(buffer=buffer).replayed == 3
    assert _texts(program.pk) == [(T0, "42", Quality.GOOD), (T0 + timedelta(seconds=1), None, 0)]
    assert buffer_replay(buffer=buffer).replayed == 0
    buffer.close()


def test_a_buffer_file_from_before_string_tags_gets_their_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE sample (id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, tag_id INTEGER NOT NULL, value REAL, "
        "quality INTEGER NOT NULL);"
        "INSERT INTO sample (time_us, tag_id, value, quality) VALUES (1, 7, 1.5, 192);"
    )
    old.commit()
    old.close()
    buffer = SampleBuffer(path, max_rows=100)
    buffer.append([TextSampleRow(T0, 8, "txt", Quality.GOOD)])
    assert [row for _, row in buffer.peek(10)] == [
        SampleRow(datetime.fromtimestamp(1e-6, tz=UTC), 7, 1.5, 192),
        TextSampleRow(T0, 8, "txt", Quality.GOOD),
    ]
    buffer.close()


def test_a_tag_changed_from_string_to_number_shows_its_numbers_not_its_old_text(
    ingest_context, device, program, machine_tags
):
    _store(ingest_context, device, [program], 0, (program.pk, "PRG-1", Quality.GOOD))
    Tag.objects.filter(pk=program.pk).update(data_type="float32", address="HR900")
    program.refresh_from_db()

    _store(ingest_context, device, [program], 1, (program.pk, 12.5, Quality.GOOD))

    assert current_values(tag_ids=[program.pk])[program.pk].value == 12.5
