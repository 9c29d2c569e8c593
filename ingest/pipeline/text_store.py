"""The write path of string tags, beside the numeric one of ingest.pipeline.store.

Text is stored on change: a reading goes to history when its text or its quality differs from the last one stored
for the tag, or when the tag's max_store_interval_seconds has passed since; never through the numeric deadband or
swinging-door filter. Every reading becomes the tag's current value and is pushed live like the numbers are. When
PostgreSQL is unreachable, the history rows wait in the same store-and-forward buffer as the numeric ones.

After-store hooks (alarms) see a string tag's quality only (its value is given as None): a bad-quality definition
works, limits never trip on text.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from historian.models import Tag
from historian.quality import Quality
from historian.sample_types import SampleRow, TextSampleRow
from historian.services.live import live_samples_publish
from historian.services.text_samples import text_samples_write_batch
from ingest.pipeline import store
from ingest.pipeline.buffer import buffer_status_publish, local_buffer
from ingest.protocols.base import PointReading

if TYPE_CHECKING:
    from ingest.pipeline.context import IngestContext

logger = logging.getLogger(__name__)


class TextMemory:
    """The last stored row per string tag, of one writer (IngestContext.text_memory): what "on change" compares
    with."""

    def __init__(self) -> None:
        self._stored: dict[int, TextSampleRow] = {}

    def due(self, row: TextSampleRow, tag: Tag) -> bool:
        """Whether `row` goes to history (and, if so, remember it as the last stored)."""
        last = self._stored.get(row.tag_id)
        due = (
            last is None
            or row.value != last.value
            or row.quality != last.quality
            or (
                tag.max_store_interval_seconds > 0
                and (row.time - last.time).total_seconds() >= tag.max_store_interval_seconds
            )
        )
        if due:
            self._stored[row.tag_id] = row
        return due

    def forget(self, tag_ids) -> None:
        for tag_id in tag_ids:
            self._stored.pop(tag_id, None)


def text_readings_store(
    *, context: IngestContext, tags: Mapping[int, Tag], readings: Sequence[PointReading], read_at: datetime
) -> store.StoreOutcome:
    """Store one batch of string readings, all taken at `read_at`."""
    memory = context.text_memory
    rows: list[TextSampleRow] = []
    history: list[TextSampleRow] = []
    current: list[TextSampleRow] = []
    for reading in readings:
        tag = tags[reading.tag_id]
        text = reading.value if isinstance(reading.value, str) else None
        row = TextSampleRow(read_at, tag.pk, text, reading.quality)
        rows.append(row)
        if tag.historize and memory.due(row, tag):
            history.append(row)
        else:
            current.append(row)
    return _rows_store(context, rows=rows, history=history, current=current, tags=tags, now=read_at)


def text_quality_store(
    *, context: IngestContext, tags: Mapping[int, Tag], quality: Quality, at: datetime
) -> store.StoreOutcome:
    """The device's link dropped, or it was taken out of service: one valueless `quality` row per string tag of
    `tags` (historized ones to history)."""
    text_tags = [tag for tag in tags.values() if tag.is_text]
    if not text_tags:
        return store.StoreOutcome()
    rows = [TextSampleRow(at, tag.pk, None, quality) for tag in text_tags]
    memory = context.text_memory
    history = [row for row in rows if tags[row.tag_id].historize and memory.due(row, tags[row.tag_id])]
    current = [row for row in rows if row not in history]
    return _rows_store(context, rows=rows, history=history, current=current, tags=tags, now=at)


def _rows_store(
    context: IngestContext,
    *,
    rows: list[TextSampleRow],
    history: list[TextSampleRow],
    current: list[TextSampleRow],
    tags: Mapping[int, Tag],
    now: datetime,
) -> store.StoreOutcome:
    buffered, replayed, written = _text_rows_write(context, history=history, current=current)
    published = _publish(rows, tags)
    store.after_store(
        context=context,
        rows=[SampleRow(row.time, row.tag_id, None, row.quality) for row in rows],
        now=now,
        written=written,
    )
    return store.StoreOutcome(stored=len(history), buffered=buffered, published=published, replayed=replayed)


def text_rows_write(
    *, context: IngestContext, history: Sequence[TextSampleRow], current: Sequence[TextSampleRow] = ()
) -> tuple[int, int]:
    """Historize `history`, update current values; returns (buffered rows, replayed rows), like store.rows_write."""
    return _text_rows_write(context, history=history, current=current)[:2]


def _text_rows_write(
    context: IngestContext, *, history: Sequence[TextSampleRow], current: Sequence[TextSampleRow] = ()
) -> tuple[int, int, bool]:
    try:
        text_samples_write_batch(
            rows=history, current_only=current, statement_timeout_ms=settings.INGEST_DB_WRITE_TIMEOUT_MS
        )
    except store.DATABASE_DOWN_ERRORS as exc:
        store.database_connection_reset()
        buffer = local_buffer()
        buffer.append(list(history))
        context.buffer_may_hold_rows = True  # replay after the next write; later batches' hooks wait behind
        logger.warning("database unavailable (%s): %d text samples buffered on disk", exc, len(history))
        buffer_status_publish(buffer=buffer)
        return len(history), 0, False
    return 0, store.buffered_replay_some(context=context), True


def _publish(rows: list[TextSampleRow], tags: Mapping[int, Tag]) -> int:
    by_machine: dict[int, list[TextSampleRow]] = defaultdict(list)
    for row in rows:
        by_machine[tags[row.tag_id].machine_id].append(row)
    try:
        return live_samples_publish(rows_by_machine=by_machine)
    except Exception:  # the values are stored; a live-push hiccup must not fail the poll
        logger.exception("live push failed")
        return 0
