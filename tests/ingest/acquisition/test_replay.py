"""A worker host replays its own store-and-forward buffer, in a thread of the process that holds it, when no poll
drains it (ingest/acquisition/replay.py); no task on a shared queue is involved."""

from datetime import UTC, datetime, timedelta

import pytest

from historian.quality import Quality
from historian.sample_types import SampleRow
from ingest.acquisition.replay import BufferReplayer
from ingest.pipeline.buffer import SampleBuffer, local_buffer
from tests.samples import stored_samples
from tests.waiting import wait_until

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _rows(tag_ids, seconds) -> list[SampleRow]:
    return [SampleRow(T0 + timedelta(seconds=s), t, float(s), Quality.GOOD) for s in seconds for t in tag_ids]


@pytest.fixture
def buffer(tmp_path) -> SampleBuffer:
    buf = SampleBuffer(tmp_path / "buffer.sqlite", max_rows=10_000)
    yield buf
    buf.close()


def test_the_replayer_thread_drains_its_hosts_buffer_into_the_database_once(transactional_db, settings):
    settings.INGEST_REPLAY_BATCH_ROWS = 7  # several batches
    rows = _rows([21, 22], range(20))
    local_buffer().append(rows)
    replayer = BufferReplayer(interval=0.05)  # this host's buffer: INGEST_BUFFER_PATH
    replayer.start()
    try:
        wait_until(lambda: local_buffer().depth() == 0, timeout=30, what="the buffer to drain")
    finally:
        replayer.stop()

    stored = stored_samples([21, 22])
    assert sorted((tag_id, time, value) for tag_id, time, value, _ in stored) == sorted(
        (r.tag_id, r.time, r.value) for r in rows
    )
    assert replayer.replayed == len(rows)


def test_the_replayer_leaves_a_buffer_that_shrank_since_its_last_look_to_the_writer_draining_it(db, buffer):
    buffer.append(_rows([31], range(10)))
    replayer = BufferReplayer(buffer=buffer, interval=1.0)
    assert replayer.replay_once() == 10  # nothing else drains it: the replayer does
    buffer.append(_rows([31], range(10, 20)))
    replayer._last_depth = 15  # seen deeper than now: a writer's replay is at work
    assert replayer.replay_once() == 0
    assert buffer.depth() == 10
    assert replayer.replay_once() == 10  # no progress over one look: the replayer takes over
    assert len(stored_samples([31])) == 20


def test_a_replayer_waits_while_the_database_is_away_and_keeps_the_rows(db, buffer, settings):
    buffer.append(_rows([41], range(3)))
    replayer = BufferReplayer(buffer=buffer, interval=1.0)
    from django.db import connection

    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1  # nothing listens there
    try:
        assert replayer.replay_once() == 0
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved
    assert buffer.depth() == 3


def test_a_replay_interval_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="replay interval must be positive"):
        BufferReplayer(interval=0)


def test_no_beat_task_replays_buffers_on_a_shared_queue():
    from config.celery import app

    assert not [e for e in app.conf.beat_schedule.values() if "buffer" in e["task"]]
