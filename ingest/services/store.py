"""The one write path for acquired values, whether polled (Modbus) or pushed by the device (subscriptions).

readings_store: per tag, the compression filter picks the rows to historize (ingest.services.compression); they
go to PostgreSQL, or to the local store-and-forward buffer when PostgreSQL is unreachable or slower than
INGEST_DB_WRITE_TIMEOUT_MS (ingest.services.buffer); every reading becomes the tag's current value and is pushed
live, one message per machine. After a successful write, one batch of buffered rows is replayed.

device_link_lost: the moment a device's link drops, one bad-quality sample per tag (after the pending
compression candidates, so the last good segment is complete) and the device status. device_out_of_service_store:
the same samples, with quality "out of service", when a person takes the device out of service.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import connection
from django.db.utils import InterfaceError as DjangoInterfaceError
from django.db.utils import OperationalError as DjangoOperationalError

from alarms.services.evaluation import alarms_evaluate
from historian.models import Device, DeviceStatus, Tag
from historian.quality import Quality
from historian.samples import SampleRow
from historian.services.live import live_samples_publish
from historian.services.samples import samples_write_batch
from ingest.drivers.base import PointReading

from .buffer import buffer_replay, buffer_status_publish, local_buffer
from .compression import CompressionFilter, StoragePolicy
from .device_status import device_record_failure, reconnect_delay

logger = logging.getLogger(__name__)

#: What "the database is unreachable or too slow" looks like, through Django's cursor or psycopg's own.
DATABASE_DOWN_ERRORS = (
    DjangoOperationalError,
    DjangoInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)

compression = CompressionFilter()
# Whether this host's buffer may hold rows: true at start (a previous, perhaps killed, process may have left some)
# and after this process buffered; false once a look found it empty. Spares a SQLite query on every poll.
_buffer_may_hold_rows = True


@dataclass(frozen=True)
class StoreOutcome:
    stored: int = 0  # rows historized (in the database or the buffer)
    buffered: int = 0  # of those, rows that went to the buffer
    published: int = 0  # live messages sent
    replayed: int = 0  # buffered rows written to the database after this write


def database_connection_reset() -> None:
    """Drop a broken connection so that the next query opens a fresh one (no-op inside a transaction)."""
    if not connection.in_atomic_block:
        connection.close()


def rows_write(*, history: Sequence[SampleRow], current: Sequence[SampleRow] = ()) -> tuple[int, int]:
    """Historize `history` and update current values; returns (buffered rows, replayed rows).

    Current values are not buffered: they are the latest reading only, and the next poll writes them again.
    """
    try:
        samples_write_batch(
            rows=history, current_only=current, statement_timeout_ms=settings.INGEST_DB_WRITE_TIMEOUT_MS
        )
    except DATABASE_DOWN_ERRORS as exc:
        database_connection_reset()
        global _buffer_may_hold_rows
        buffer = local_buffer()
        buffer.append(list(history))
        _buffer_may_hold_rows = True
        logger.warning("database unavailable (%s): %d samples buffered on disk", exc, len(history))
        buffer_status_publish(buffer=buffer)
        return len(history), 0
    return 0, _replay_some()


def _replay_some() -> int:
    """The database took a write: replay one batch of what waits in the buffer, if anything does."""
    global _buffer_may_hold_rows
    if not _buffer_may_hold_rows:
        return 0
    buffer = local_buffer()
    if not buffer.depth():
        _buffer_may_hold_rows = False
        return 0
    try:
        return buffer_replay(buffer=buffer, batch_rows=settings.INGEST_REPLAY_BATCH_ROWS, max_seconds=0.0).replayed
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        return 0


def readings_store(
    *, device: Device, tags: Mapping[int, Tag], readings: Sequence[PointReading], read_at: datetime
) -> StoreOutcome:
    """Store one batch of readings of `device`'s tags, all taken at `read_at`."""
    history: list[SampleRow] = []
    current: list[SampleRow] = []
    shown: list[SampleRow] = []
    for reading in readings:
        tag = tags[reading.tag_id]
        row, to_store = compression.admit(SampleRow(read_at, tag.pk, reading.value, reading.quality), _policy(tag))
        shown.append(row)
        if tag.historize and to_store:
            history.extend(to_store)
            if to_store[-1] is not row:
                current.append(row)
        else:
            current.append(row)
    buffered, replayed = rows_write(history=history, current=current)
    published = _publish(shown, tags)
    alarms_evaluate(rows=shown, now=read_at)
    return StoreOutcome(stored=len(history), buffered=buffered, published=published, replayed=replayed)


def compression_flush(*, tags: Mapping[int, Tag]) -> int:
    """Store the pending compression candidates of `tags` and forget their state; returns rows stored."""
    rows = [row for row in compression.flush(tags) if tags[row.tag_id].historize]
    if rows:
        rows_write(history=rows)
    return len(rows)


def device_link_lost(*, device: Device, tags: Mapping[int, Tag], error: str, failed_at: datetime) -> StoreOutcome:
    """The device's link is down: bad quality for each tag once (when it was not down already), then back off.

    Updates `device` in memory as well, so that a poller working from cached configuration (database down)
    sees the failure too.
    """
    outcome = StoreOutcome()
    if device.status != DeviceStatus.ERROR:
        logger.warning("device %s unreachable: %s", device, error)
        rows, outcome = _tags_quality_store(tags=tags, quality=Quality.BAD_COMM_FAILURE, at=failed_at)
        alarms_evaluate(rows=rows, now=failed_at)  # bad-quality alarms fire when the link drops
    try:
        retry_at = device_record_failure(device=device, error=error, failed_at=failed_at)
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


def device_out_of_service_store(*, tags: Mapping[int, Tag], at: datetime) -> StoreOutcome:
    """The device was taken out of service: one out-of-service sample per tag (after the pending compression
    candidates of this process), as current value too, pushed live.

    Alarms are not evaluated on these rows: the engine has no notion of a quality that is bad on purpose, and a
    bad-quality alarm per tag for a device someone switched off would only flood the operator.
    """
    return _tags_quality_store(tags=tags, quality=Quality.BAD_OUT_OF_SERVICE, at=at)[1]


def _tags_quality_store(
    *, tags: Mapping[int, Tag], quality: Quality, at: datetime
) -> tuple[list[SampleRow], StoreOutcome]:
    """One valueless `quality` sample per tag, after the pending compression candidates (so the last good segment
    is complete); returns those samples and what was stored."""
    pending = [row for row in compression.flush(tags) if tags[row.tag_id].historize]
    rows = [SampleRow(at, tag_id, None, quality) for tag_id in tags]
    history = pending + [r for r in rows if tags[r.tag_id].historize]
    current = [r for r in rows if not tags[r.tag_id].historize]
    buffered, replayed = rows_write(history=history, current=current)
    return rows, StoreOutcome(stored=len(history), buffered=buffered, published=_publish(rows, tags), replayed=replayed)


_policies: dict[int, tuple[tuple, StoragePolicy]] = {}


def _policy(tag: Tag) -> StoragePolicy:
    """The tag's policy, computed once per settings of the tag (a poll of 10,000 tags runs this 10,000 times)."""
    key = (
        tag.deadband,
        tag.deviation_unit,
        tag.compression_deviation,
        tag.max_store_interval_seconds,
        tag.stale_after_seconds,
        tag.data_type,
        tag.interpolation,
        bool(tag.value_labels),
        tag.span_low,
        tag.span_high,
    )
    known = _policies.get(tag.pk)
    if known is not None and known[0] == key:
        return known[1]
    policy = StoragePolicy.for_tag(tag)
    _policies[tag.pk] = (key, policy)
    return policy


def _publish(rows: list[SampleRow], tags: Mapping[int, Tag]) -> int:
    by_machine: dict[int, list[SampleRow]] = defaultdict(list)
    for row in rows:
        by_machine[tags[row.tag_id].machine_id].append(row)
    try:
        return live_samples_publish(rows_by_machine=by_machine)
    except Exception:  # the values are stored; a live-push hiccup must not fail the poll
        logger.exception("live push failed")
        return 0
