"""The edge publisher's outbox: values of the published tags wait on disk until the broker has acknowledged them.

An after-store hook (`EdgeOutboxHook`, registered by IngestConfig.ready()) appends the rows of the tags an
administrator marked `edge_publish` (while an edge publication is enabled) to a SQLite file of its own, the same
durable design as the store-and-forward buffer (ingest.pipeline.buffer: WAL, synchronous=FULL, read oldest first):
INGEST_EDGE_OUTBOX_PATH, by default MILLWRIGHT_STATE_DIR/ingest/edge-outbox-<hostname>.sqlite. The publisher
process (ingest.acquisition.edge_publisher) reads it in time order and removes rows only once the broker has sent
the PUBACK of the message that carried them, so a kill -9 loses nothing; what was sent but not yet acknowledged
goes again, and the central's store keeps one row per tag and time.

A broker's PUBACK says the broker has a message, not that the central host got it: a broker that stops (its queue
to the host with it) or a host whose link lapses (the broker notices up to 1.5 keepalives later, and sends its
offline STATE only then) loses what it was forwarding. So acknowledged rows are kept `keep_seconds` more in a
table of their own, and `resend_recent()` puts those of a span back in the outbox (the publisher calls it when its
session was lost or the host went offline); they go again as historical values, and the central's (tag, time) key
makes the ones it already had a no-op.

The outbox also remembers the last value sent per tag (`last_sent`): a birth announces it, with its own timestamp,
so that the central host, which stores birth values, stores nothing the site did not.

The hooks see every reading the site's store took (ingest.pipeline.hooks), which is its history when the tag has no
compression; a tag compressed on the site sends its raw readings, and the central's own tag settings decide what it
keeps. String tags are not published (the hooks get their quality only).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from django.conf import settings

from historian.models import EdgePublication, Tag
from historian.sample_types import SampleBatch, SampleRow
from ingest.pipeline.buffer import SampleBuffer, _from_us, _to_us, host_state_file
from ingest.pipeline.hooks import StoredRows

logger = logging.getLogger(__name__)

#: How often a hook re-reads which tags are published.
RELOAD_SECONDS = 5.0

_LAST_SENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS last_sent (
    tag_id INTEGER PRIMARY KEY,
    time_us INTEGER NOT NULL,
    value REAL,
    quality INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recent (
    id INTEGER PRIMARY KEY,
    sent_us INTEGER NOT NULL,
    time_us INTEGER NOT NULL,
    tag_id INTEGER NOT NULL,
    value REAL,
    quality INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS recent_sent ON recent (sent_us);
"""


class EdgeOutbox(SampleBuffer):
    """The store-and-forward buffer's file and methods, plus what was last sent per tag."""

    def _db(self) -> sqlite3.Connection:
        fresh = self._conn is None
        conn = super()._db()
        if fresh:
            conn.executescript(_LAST_SENT_SCHEMA)
        return conn

    def acknowledged(self, ids: list[int], rows: Iterable[SampleRow], *, keep_seconds: float = 0.0) -> None:
        """The broker has the messages that carried `rows` (outbox ids `ids`): take them out, keep them
        `keep_seconds` for `resend_recent()`, remember the newest value per tag, in one transaction."""
        rows = list(rows)
        now_us = _to_us(datetime.now(UTC))
        newest: dict[int, SampleRow] = {}
        for row in rows:
            if row.tag_id not in newest or row.time >= newest[row.tag_id].time:
                newest[row.tag_id] = row
        with self._transaction() as db:
            self._delete(db, ids)
            db.execute("DELETE FROM recent WHERE sent_us < ?", [now_us - round(keep_seconds * 1_000_000)])
            if keep_seconds > 0:
                db.executemany(
                    "INSERT INTO recent (sent_us, time_us, tag_id, value, quality) VALUES (?, ?, ?, ?, ?)",
                    [(now_us, _to_us(r.time), r.tag_id, r.value, int(r.quality)) for r in rows],
                )
            db.executemany(
                "INSERT INTO last_sent (tag_id, time_us, value, quality) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tag_id) DO UPDATE SET time_us = excluded.time_us, value = excluded.value, "
                "quality = excluded.quality WHERE excluded.time_us >= last_sent.time_us",
                [(r.tag_id, _to_us(r.time), r.value, int(r.quality)) for r in newest.values()],
            )

    def resend_recent(self, *, since: datetime) -> int:
        """Put the rows acknowledged since `since` (and still kept) back in the outbox, in one transaction;
        returns how many."""
        cut = _to_us(since)
        with self._transaction() as db:
            again = db.execute(
                "INSERT INTO sample (time_us, tag_id, value, quality) "
                "SELECT time_us, tag_id, value, quality FROM recent WHERE sent_us >= ? ORDER BY id",
                [cut],
            ).rowcount
            db.execute("DELETE FROM recent WHERE sent_us >= ?", [cut])
            db.execute("UPDATE meta SET value = value + ? WHERE key = 'depth'", [again])
        return again

    def last_sent(self) -> dict[int, SampleRow]:
        with self._lock:
            cursor = self._db().execute("SELECT tag_id, time_us, value, quality FROM last_sent")
            return {tag_id: SampleRow(_from_us(t), tag_id, value, quality) for tag_id, t, value, quality in cursor}


def default_outbox_path() -> Path:
    return host_state_file("INGEST_EDGE_OUTBOX_PATH", "edge-outbox")


@cache
def _outbox_for(path: Path, max_rows: int) -> EdgeOutbox:
    return EdgeOutbox(path, max_rows=max_rows)


def edge_outbox() -> EdgeOutbox:
    """This host's outbox (one object per process and path)."""
    return _outbox_for(default_outbox_path(), int(getattr(settings, "INGEST_EDGE_OUTBOX_MAX_ROWS", 5_000_000)))


def published_tag_ids() -> frozenset[int]:
    """The numeric tags marked for publishing, while an edge publication is enabled; none otherwise."""
    if not EdgePublication.objects.filter(enabled=True).exists():
        return frozenset()
    tags = Tag.objects.filter(edge_publish=True).exclude(data_type="string")
    return frozenset(tags.values_list("pk", flat=True))


class EdgeOutboxHook:
    """The after-store hook of one writer: the published tags' rows into the outbox, in the order stored."""

    def __init__(self) -> None:
        self._tag_ids: frozenset[int] = frozenset()
        self._loaded_at = -float("inf")

    def _published(self) -> frozenset[int]:
        if time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            try:
                self._tag_ids = published_tag_ids()
                self._loaded_at = time.monotonic()
            except Exception:  # the database is away: keep the last known selection
                logger.warning("edge outbox: the published tags could not be read", exc_info=True)
        return self._tag_ids

    def __call__(self, *, rows: StoredRows, now: object) -> int:
        published = self._published()
        if not published:
            return 0
        listed = rows.rows() if isinstance(rows, SampleBatch) else list(rows)
        chosen = [row for row in listed if row.tag_id in published]
        if chosen:
            edge_outbox().append(chosen)
        return len(chosen)


def edge_outbox_hook_make() -> EdgeOutboxHook:
    return EdgeOutboxHook()
