"""The one write path for acquired values, whether polled (Modbus) or pushed by the device (subscriptions).

readings_store: the compression filter picks the rows to historize (ingest.pipeline.compression); they
go to PostgreSQL, or to the local store-and-forward buffer when PostgreSQL is unreachable or slower than
INGEST_DB_WRITE_TIMEOUT_MS (ingest.pipeline.buffer); every reading becomes the tag's current value and is pushed
live, one message per machine. After a successful write, one batch of buffered rows is replayed. Then the rows go
to the after-store hooks (ingest.pipeline.hooks: alarm evaluation), in time order. A batch is handled
as columns (a ReadingBatch, as the Modbus driver returns it; a list of PointReadings is converted): a poll of
thousands of tags costs a few array operations per step, not Python work per value.

Every call takes the writer's IngestContext (ingest.pipeline.context): its compression segments, caches, hooks
and held batches. Nothing here is module-level state.

device_link_lost: the moment a device's link drops, one bad-quality sample per tag (after the pending
compression candidates, so the last good segment is complete) and the device status. device_out_of_service_store:
the same samples, with quality "out of service", when a person takes the device out of service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection
from django.db.utils import InterfaceError as DjangoInterfaceError
from django.db.utils import OperationalError as DjangoOperationalError

from common.metrics import counter_add
from historian.addresses import TEXT_DATA_TYPES
from historian.models import Device, DeviceStatus, Tag
from historian.quality import Quality
from historian.sample_types import SampleBatch, SampleRow, datetime_to_us
from historian.services.live import live_samples_publish
from historian.services.samples import as_batch, samples_write_batch
from ingest.pipeline.buffer import buffer_replay, buffer_status_publish, local_buffer
from ingest.pipeline.compression import PolicyArrays, StoragePolicy
from ingest.pipeline.device_status import device_record_failure, reconnect_delay
from ingest.pipeline.hooks import after_store_run
from ingest.pipeline.quarantine import readings_quarantine_marked
from ingest.protocols.base import PointReading, ReadingBatch

if TYPE_CHECKING:
    from ingest.pipeline.context import IngestContext

logger = logging.getLogger(__name__)

#: What "the database is unreachable or too slow" looks like, through Django's cursor or psycopg's own.
#: Values written (Prometheus counter, common.metrics), by outcome: stored, buffered (database away), replayed.
INGEST_VALUES = "millwright_ingest_values_total"

DATABASE_DOWN_ERRORS = (
    DjangoOperationalError,
    DjangoInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


@dataclass(frozen=True)
class StoreOutcome:
    stored: int = 0  # rows historized (in the database or the buffer)
    buffered: int = 0  # of those, rows that went to the buffer
    published: int = 0  # live messages sent
    replayed: int = 0  # buffered rows written to the database after this write

    def __add__(self, other: StoreOutcome) -> StoreOutcome:
        return StoreOutcome(
            stored=self.stored + other.stored,
            buffered=self.buffered + other.buffered,
            published=self.published + other.published,
            replayed=self.replayed + other.replayed,
        )


def database_connection_reset() -> None:
    """Drop a broken connection so that the next query opens a fresh one (no-op inside a transaction)."""
    if not connection.in_atomic_block:
        connection.close()


def rows_write(
    *,
    context: IngestContext,
    history: SampleBatch | Sequence[SampleRow],
    current: SampleBatch | Sequence[SampleRow] = (),
) -> tuple[int, int]:
    """Historize `history` and update current values; returns (buffered rows, replayed rows).

    Current values are not buffered: they are the latest reading only, and the next poll writes them again.
    """
    return _rows_write(context, history=history, current=current)[:2]


def _rows_write(
    context: IngestContext,
    *,
    history: SampleBatch | Sequence[SampleRow],
    current: SampleBatch | Sequence[SampleRow] = (),
) -> tuple[int, int, bool]:
    """rows_write, and whether the database took the write (False: the history went to the buffer)."""
    try:
        samples_write_batch(
            rows=history, current_only=current, statement_timeout_ms=settings.INGEST_DB_WRITE_TIMEOUT_MS
        )
    except DATABASE_DOWN_ERRORS as exc:
        database_connection_reset()
        buffer = local_buffer()
        buffer.append(as_batch(history).rows())
        context.buffer_may_hold_rows = True  # replay after the next write; later batches' hooks wait behind
        logger.warning("database unavailable (%s): %d samples buffered on disk", exc, len(history))
        buffer_status_publish(buffer=buffer)
        counter_add(INGEST_VALUES, len(history), outcome="buffered")
        return len(history), 0, False
    counter_add(INGEST_VALUES, len(history), outcome="stored")
    replayed = buffered_replay_some(context=context)
    counter_add(INGEST_VALUES, replayed, outcome="replayed")
    return 0, replayed, True


def buffered_replay_some(*, context: IngestContext) -> int:
    """The database took a write: replay one batch of what waits in the buffer, if anything does (its rows go to
    the writer's after-store hooks as they are replayed)."""
    if not context.buffer_may_hold_rows:
        return 0
    buffer = local_buffer()
    if not buffer.depth():
        context.buffer_may_hold_rows = False
        return 0
    try:
        outcome = buffer_replay(
            buffer=buffer, batch_rows=settings.INGEST_REPLAY_BATCH_ROWS, max_seconds=0.0, hooks=context.hooks
        )
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        return 0
    context.buffer_may_hold_rows = outcome.remaining > 0
    return outcome.replayed


def after_store(
    *, context: IngestContext, rows: SampleBatch | Sequence[SampleRow], now: datetime, written: bool
) -> None:
    """Hand a batch to the after-store hooks, in time order (ingest.pipeline.hooks).

    `written`: the database took the batch. When it did not, its historized rows reach the hooks as the buffer
    replays them, at their own times; the others (current values only) are not stored anywhere, so no hook sees
    them. When older rows still wait in the buffer, the batch waits behind them.
    """
    if not written:
        return
    if context.buffer_may_hold_rows:
        context.held.hold(rows=rows, now=now)
        return
    context.held.release(context.hooks)
    after_store_run(hooks=context.hooks, rows=rows, now=now)


def readings_store(
    *,
    context: IngestContext,
    device: Device,
    tags: Mapping[int, Tag],
    readings: Sequence[PointReading] | ReadingBatch,
    read_at: datetime,
) -> StoreOutcome:
    """Store one batch of readings of `device`'s tags, all taken at `read_at`."""
    readings = readings_quarantine_marked(device, readings)
    text, batch = _text_split(context, tags, readings)
    if text:  # string tags take their own path (ingest.pipeline.text_store)
        text_outcome = _text_store(context=context, tags=tags, readings=text, read_at=read_at)
    if len(np.unique(batch.tag_ids)) != len(batch):
        # Two readings of one tag at one time (a pushed batch): the last one counts, as in current values.
        last = len(batch) - 1 - np.unique(batch.tag_ids[::-1], return_index=True)[1]
        batch = batch.take(last)
    now = datetime_to_us(read_at)
    config = _tag_arrays(context, tags, batch.tag_ids)
    admitted = context.compression.admit_batch(batch.tag_ids, now, batch.values, batch.qualities, config.policy)
    history = admitted.stored(batch.tag_ids, now, batch.values, only=config.historize)
    # Every reading becomes its tag's current value (the newest row of the write, whether historized or not).
    shown = SampleBatch.of(now, batch.tag_ids, batch.values, admitted.quality)
    buffered, replayed, written = _rows_write(context, history=history, current=shown)
    published = _publish(shown, config.machines)
    after_store(context=context, rows=shown, now=read_at, written=written)
    outcome = StoreOutcome(stored=len(history), buffered=buffered, published=published, replayed=replayed)
    return outcome if not text else outcome + text_outcome


def compression_flush(*, context: IngestContext, tags: Mapping[int, Tag]) -> int:
    """Store the pending compression candidates of `tags` and forget their state; returns rows stored."""
    rows = [row for row in context.compression.flush(tags) if tags[row.tag_id].historize]
    if rows:
        rows_write(context=context, history=rows)
    return len(rows)


def device_link_lost(
    *, context: IngestContext, device: Device, tags: Mapping[int, Tag], error: str, failed_at: datetime
) -> StoreOutcome:
    """The device's link is down: bad quality for each tag once (when it was not down already), then back off.

    Updates `device` in memory as well, so that a poller working from cached configuration (database down)
    sees the failure too.
    """
    outcome = StoreOutcome()
    if device.status != DeviceStatus.ERROR:
        logger.warning("device %s unreachable: %s", device, error)
        # Hooks see these rows: bad-quality alarms fire when the link drops.
        outcome = _tags_quality_store(context, tags=tags, quality=Quality.BAD_COMM_FAILURE, at=failed_at, hooked=True)
    try:
        retry_at = device_record_failure(context=context, device=device, error=error, failed_at=failed_at)
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        retry_at = failed_at + timedelta(seconds=reconnect_delay(device.consecutive_failures + 1))
    if device.status != DeviceStatus.ERROR:
        device.status_changed_at = failed_at
    device.status = DeviceStatus.ERROR
    device.consecutive_failures += 1
    device.last_error = error[:1000]
    device.next_retry_at = retry_at
    return outcome


@dataclass(frozen=True, slots=True)
class _TagArrays:
    """What readings_store needs of a batch's tags, in the batch's order."""

    tags: Mapping[int, Tag]  # the mapping these were computed from
    policy: PolicyArrays
    historize: np.ndarray
    machines: list[tuple[int, np.ndarray]]  # machine id, positions of its tags in the batch


def device_out_of_service_store(*, context: IngestContext, tags: Mapping[int, Tag], at: datetime) -> StoreOutcome:
    """The device was taken out of service: one out-of-service sample per tag (after the pending compression
    candidates of `context`), as current value too, pushed live.

    Alarms are not evaluated on these rows: the engine has no notion of a quality that is bad on purpose, and a
    bad-quality alarm per tag for a device someone switched off would only flood the operator.
    """
    return _tags_quality_store(context, tags=tags, quality=Quality.BAD_OUT_OF_SERVICE, at=at, hooked=False)


def device_acquisition_down_store(*, context: IngestContext, tags: Mapping[int, Tag], at: datetime) -> StoreOutcome:
    """The worker that polled the device died (kill -9, a lost host): one "no data: acquisition down" sample per
    tag at `at`, the start of the gap, stored by the worker that took the device over. Not evaluated by alarms, as
    out of service: the gap is the acquisition's, not the process's."""
    return _tags_quality_store(context, tags=tags, quality=Quality.BAD_ACQUISITION_DOWN, at=at, hooked=False)


def _tags_quality_store(
    context: IngestContext, *, tags: Mapping[int, Tag], quality: Quality, at: datetime, hooked: bool
) -> StoreOutcome:
    """One valueless `quality` sample per tag, after the pending compression candidates (so the last good segment
    is complete); string tags get theirs in the text samples. `hooked`: the numeric samples go to the after-store
    hooks (string tags' samples always do, through text_store, as they did before the hooks)."""
    pending = [row for row in context.compression.flush(tags) if tags[row.tag_id].historize]
    rows = [
        SampleRow(at, tag_id, None, quality) for tag_id, tag in tags.items() if tag.data_type not in TEXT_DATA_TYPES
    ]
    history = pending + [r for r in rows if tags[r.tag_id].historize]
    current = [r for r in rows if not tags[r.tag_id].historize]
    buffered, replayed, written = _rows_write(context, history=history, current=current)
    if hooked:
        after_store(context=context, rows=rows, now=at, written=written)
    machines = _tag_arrays(context, tags, np.array([r.tag_id for r in rows], dtype=np.int32)).machines
    outcome = StoreOutcome(
        stored=len(history),
        buffered=buffered,
        published=_publish(SampleBatch.from_rows(rows), machines),
        replayed=replayed,
    )
    return outcome + _text_quality_store(context=context, tags=tags, quality=quality, at=at)


def _tag_arrays(context: IngestContext, tags: Mapping[int, Tag], tag_ids: np.ndarray) -> _TagArrays:
    """Computed once per tags mapping and batch tag order: a poller passes the same mapping every poll.

    Tags are taken as snapshots: a changed configuration comes as a new mapping (the poller reloads its tags).
    """
    cache = context.tag_arrays
    key = (id(tags), tag_ids.tobytes())
    known = cache.get(key)
    if known is not None and known.tags is tags:
        return known
    batch_tags = [tags[t] for t in tag_ids.tolist()]
    machine_ids = np.array([t.machine_id for t in batch_tags], dtype=np.int64)
    arrays = _TagArrays(
        tags=tags,
        policy=PolicyArrays.of([StoragePolicy.for_tag(t) for t in batch_tags]),
        historize=np.array([t.historize for t in batch_tags], dtype=bool),
        machines=[(int(m), np.flatnonzero(machine_ids == m)) for m in np.unique(machine_ids).tolist()],
    )
    if len(cache) >= 256:  # mappings replaced by a reload, varying pushed batches: stay bounded
        cache.clear()
    cache[key] = arrays
    return arrays


def _publish(rows: SampleBatch, machines: list[tuple[int, np.ndarray]]) -> int:
    try:
        return live_samples_publish(rows_by_machine={machine: rows.take(where) for machine, where in machines})
    except Exception:  # the values are stored; a live-push hiccup must not fail the poll
        logger.exception("live push failed")
        return 0


def _text_split(
    context: IngestContext, tags: Mapping[int, Tag], readings: Sequence[PointReading] | ReadingBatch
) -> tuple[list[PointReading], ReadingBatch]:
    """The readings of string tags, and the numeric rest as a batch (no per-reading work when there is no string
    tag among `tags`, the usual case)."""
    cache = context.text_ids
    known = cache.get(id(tags))
    if known is None or known[0] is not tags:
        if len(cache) >= 256:
            cache.clear()
        known = (tags, frozenset(t for t, tag in tags.items() if tag.data_type in TEXT_DATA_TYPES))
        cache[id(tags)] = known
    text_ids = known[1]
    if isinstance(readings, ReadingBatch):
        if not text_ids:
            return [], readings
        is_text = np.isin(readings.tag_ids, np.fromiter(text_ids, dtype=np.int32))
        if not is_text.any():
            return [], readings
        return readings.take(is_text).readings(), readings.take(~is_text)
    if not text_ids:
        return [], ReadingBatch.from_readings(readings)
    text = [r for r in readings if r.tag_id in text_ids]
    return text, ReadingBatch.from_readings([r for r in readings if r.tag_id not in text_ids])


def _text_store(**kwargs) -> StoreOutcome:
    from ingest.pipeline.text_store import text_readings_store  # imported here: text_store builds on this module

    return text_readings_store(**kwargs)


def _text_quality_store(**kwargs) -> StoreOutcome:
    from ingest.pipeline.text_store import text_quality_store

    return text_quality_store(**kwargs)
