"""The store-and-forward buffer on disk, and its replay into PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from historian.quality import Quality
from historian.queries.acquisition import ingest_buffer_statuses
from historian.sample_types import SampleRow
from historian.services.samples import samples_write_batch
from ingest.pipeline.buffer import SampleBuffer, buffer_replay, buffer_status_publish
from tests.samples import stored_samples

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _rows(tag_ids, seconds) -> list[SampleRow]:
    return [SampleRow(T0 + timedelta(seconds=s), t, float(s), Quality.GOOD) for s in seconds for t in tag_ids]


@pytest.fixture
def buffer(tmp_path) -> SampleBuffer:
    buf = SampleBuffer(tmp_path / "buffer.sqlite", max_rows=1000)
    yield buf
    buf.close()


def test_buffered_rows_survive_reopening_the_file(buffer, tmp_path):
    rows = _rows([1, 2], range(3))
    buffer.append(rows)
    buffer.close()

    reopened = SampleBuffer(tmp_path / "buffer.sqlite", max_rows=1000)
    assert [row for _, row in reopened.peek(100)] == rows
    assert reopened.depth() == 6
    reopened.close()


def test_rows_come_out_in_time_order_whatever_order_they_went_in(buffer):
    buffer.append(_rows([1], [5, 6]))
    buffer.append(_rows([1], [1, 2]))

    assert [row.time.second for _, row in buffer.peek(10)] == [1, 2, 5, 6]


def test_a_full_buffer_drops_its_oldest_rows_and_counts_them(tmp_path):
    buffer = SampleBuffer(tmp_path / "small.sqlite", max_rows=5)
    buffer.append(_rows([1], range(4)))
    assert buffer.append(_rows([1], range(4, 7))) == 2

    status = buffer.status("host-a")
    assert [row.time.second for _, row in buffer.peek(10)] == [2, 3, 4, 5, 6]
    assert (status.depth, status.dropped, status.oldest) == (5, 2, T0 + timedelta(seconds=2))
    buffer.close()


def test_replay_stores_every_row_once_in_the_database_and_empties_the_buffer(db, buffer):
    rows = _rows([11, 12], range(10))
    buffer.append(rows)

    outcome = buffer_replay(buffer=buffer, batch_rows=7)

    assert (outcome.replayed, outcome.remaining) == (20, 0)
    expected = [(r.tag_id, r.time, r.value) for r in sorted(rows, key=lambda r: (r.time, r.tag_id))]
    assert [row[:3] for row in stored_samples([11, 12])] == expected


def test_a_replay_interrupted_after_its_database_commit_stores_no_duplicates_when_repeated(db, buffer):
    rows = _rows([21, 22], range(6))
    buffer.append(rows)
    # A replay wrote the first batch to PostgreSQL, then the worker died before removing it from the buffer.
    first_batch = [row for _, row in buffer.peek(4)]
    samples_write_batch(rows=first_batch, idempotent=True)

    outcome = buffer_replay(buffer=buffer, batch_rows=4)

    assert outcome.replayed == 12
    stored = stored_samples([21, 22])
    assert len(stored) == len(set(stored)) == 12


def test_the_buffer_status_is_published_with_depth_and_oldest_age(buffer):
    buffer.append(_rows([1], [0, 1]))

    status = buffer_status_publish(buffer=buffer)

    published = {s["host"]: s for s in ingest_buffer_statuses()}[status.host]
    assert published["depth"] == 2
    assert published["oldest"] == T0.isoformat()
    assert published["oldest_age_seconds"] > 0
