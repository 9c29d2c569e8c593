"""Store-and-forward: samples that PostgreSQL could not take wait in a local SQLite file, then are replayed.

One file per worker host (INGEST_BUFFER_PATH, by default MILLWRIGHT_STATE_DIR/ingest/buffer-<hostname>.sqlite),
shared by the processes of the pool. SQLite in WAL mode: writers append without blocking readers, and
`synchronous=FULL` makes every append durable before the poll moves on. WAL with NORMAL would already survive a
kill -9 of the worker (the log sits in the operating system's cache), but not a power cut or a kernel crash,
which on a plant floor is often the very event that took the database away; the fsync per append costs nothing
in normal running, because the buffer is only written while the database is unreachable.

Replay reads the oldest rows in time order, writes them through the idempotent path of samples_write_batch
(ON CONFLICT (tag_id, time) DO NOTHING), and only then deletes them from the file. A crash between the two
replays them again next time: the database keeps one row per tag and time, so nothing is duplicated.
Each replayed batch then goes to the after-store hooks (ingest.pipeline.hooks: alarm evaluation) with the rows'
own timestamps, oldest first: a value read during the outage is judged at the time it was read. (Two processes
replaying at once, the poller's catch-up and the replay task, may hand the same rows to the hooks twice; a crash
between the delete and the hooks loses their evaluation, never the values.)

When the buffer holds INGEST_BUFFER_MAX_ROWS, the oldest rows make room for the newest and are counted as
dropped (the newest values describe the plant as it is now).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import cast

import redis
from django.conf import settings

from common.redis import redis_client
from historian.quality import Quality
from historian.queries.acquisition import BUFFER_STATUS_KEY
from historian.sample_types import SampleRow, TextSampleRow, is_text_row
from historian.services.samples import samples_write_batch
from historian.services.text_samples import text_samples_write_batch
from ingest.pipeline.hooks import AfterStoreHook, after_store_hooks_make, after_store_run

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sample (
    id INTEGER PRIMARY KEY,
    time_us INTEGER NOT NULL,
    tag_id INTEGER NOT NULL,
    value REAL,
    quality INTEGER NOT NULL,
    is_text INTEGER NOT NULL DEFAULT 0,
    text_value TEXT
);
CREATE INDEX IF NOT EXISTS sample_time ON sample (time_us, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('depth', 0), ('dropped', 0);
"""
# A buffer file written before string tags existed lacks their columns (value REAL would turn "42" into 42.0).
_TEXT_COLUMNS = ("is_text INTEGER NOT NULL DEFAULT 0", "text_value TEXT")


@dataclass(frozen=True)
class BufferStatus:
    host: str
    depth: int
    oldest: datetime | None
    dropped: int

    @property
    def oldest_age_seconds(self) -> float | None:
        return None if self.oldest is None else max(0.0, time.time() - self.oldest.timestamp())

    def as_json(self) -> dict:
        data = asdict(self)
        data["oldest"] = None if self.oldest is None else self.oldest.isoformat()
        data["oldest_age_seconds"] = self.oldest_age_seconds
        return data


def _to_us(t: datetime) -> int:
    return round(t.timestamp() * 1_000_000)


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


class SampleBuffer:
    """The on-disk buffer. One connection per process (opened lazily, re-opened after a fork), used by one thread
    at a time: the poller's threads share it, and two transactions must never interleave on one connection."""

    def __init__(self, path: Path, *, max_rows: int) -> None:
        if max_rows < 1:
            raise ValueError("the buffer must hold at least one row")
        self.path = Path(path)
        self.max_rows = max_rows
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            _text_columns_add(conn)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def append(self, rows: list[SampleRow] | list[TextSampleRow]) -> int:
        """Store rows durably; returns how many older rows were dropped to stay within max_rows.

        `rows` are all numeric or all text (the two write paths buffer separately).
        """
        if not rows:
            return 0
        dropped = 0
        with self._transaction() as db:
            if is_text_row(rows[0]):
                db.executemany(
                    "INSERT INTO sample (time_us, tag_id, quality, is_text, text_value) VALUES (?, ?, ?, 1, ?)",
                    [(_to_us(r.time), r.tag_id, int(r.quality), r.value) for r in rows],
                )
            else:
                db.executemany(
                    "INSERT INTO sample (time_us, tag_id, value, quality) VALUES (?, ?, ?, ?)",
                    [(_to_us(r.time), r.tag_id, r.value, int(r.quality)) for r in rows],
                )
            depth = db.execute("SELECT value FROM meta WHERE key = 'depth'").fetchone()[0] + len(rows)
            if depth > self.max_rows:
                dropped = depth - self.max_rows
                db.execute(
                    "DELETE FROM sample WHERE id IN (SELECT id FROM sample ORDER BY time_us, id LIMIT ?)", [dropped]
                )
                depth = self.max_rows
                db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", [dropped])
            db.execute("UPDATE meta SET value = ? WHERE key = 'depth'", [depth])
        if dropped:
            logger.error("store-and-forward buffer full (%d rows): dropped the %d oldest", self.max_rows, dropped)
        return dropped

    def depth(self) -> int:
        with self._lock:
            return self._db().execute("SELECT value FROM meta WHERE key = 'depth'").fetchone()[0]

    def peek(self, limit: int) -> list[tuple[int, SampleRow | TextSampleRow]]:
        """The oldest rows (by time), with their buffer ids; rows of string tags come back as TextSampleRow."""
        with self._lock:
            cursor = self._db().execute(
                "SELECT id, time_us, tag_id, value, quality, is_text, text_value FROM sample "
                "ORDER BY time_us, id LIMIT ?",
                [limit],
            )
            return [
                (
                    i,
                    TextSampleRow(_from_us(t), tag_id, text, quality)
                    if is_text
                    else SampleRow(_from_us(t), tag_id, value, quality),
                )
                for i, t, tag_id, value, quality, is_text, text in cursor
            ]

    def remove(self, ids: list[int]) -> None:
        with self._transaction() as db:
            self._delete(db, ids)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this process's connection (BEGIN IMMEDIATE: the file's writers take turns)."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _delete(db: sqlite3.Connection, ids: list[int]) -> None:
        """Take rows `ids` out, and their count off the depth (inside a transaction)."""
        removed = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            removed += db.execute(f"DELETE FROM sample WHERE id IN ({marks})", chunk).rowcount  # noqa: S608
        db.execute("UPDATE meta SET value = max(0, value - ?) WHERE key = 'depth'", [removed])

    def status(self, host: str) -> BufferStatus:
        with self._lock:
            db = self._db()
            depth = db.execute("SELECT value FROM meta WHERE key = 'depth'").fetchone()[0]
            dropped = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()[0]
            oldest = db.execute("SELECT min(time_us) FROM sample").fetchone()[0]
            return BufferStatus(
                host=host, depth=depth, oldest=None if oldest is None else _from_us(oldest), dropped=dropped
            )


def _text_columns_add(conn: sqlite3.Connection) -> None:
    """Add the string tags' columns to a buffer file made before them (once; a second process finds them)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(sample)")}
    if "text_value" in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sample)")}
        for column in _TEXT_COLUMNS:
            if column.split()[0] not in columns:
                conn.execute(f"ALTER TABLE sample ADD COLUMN {column}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def buffer_host() -> str:
    return socket.gethostname()


def host_state_file(setting: str, stem: str) -> Path:
    """A host's own SQLite file (the store-and-forward buffer, the edge outbox): the path in `setting`, else
    `<state dir>/ingest/<stem>-<host>.sqlite`."""
    configured = getattr(settings, setting, "")
    if configured:
        return Path(configured)
    return Path(settings.MILLWRIGHT_STATE_DIR) / "ingest" / f"{stem}-{buffer_host()}.sqlite"


def default_buffer_path() -> Path:
    return host_state_file("INGEST_BUFFER_PATH", "buffer")


@cache
def _buffer_for(path: Path, max_rows: int) -> SampleBuffer:
    return SampleBuffer(path, max_rows=max_rows)


def local_buffer() -> SampleBuffer:
    """This host's buffer (one object per process and path)."""
    return _buffer_for(default_buffer_path(), int(getattr(settings, "INGEST_BUFFER_MAX_ROWS", 5_000_000)))


def buffer_status_publish(*, buffer: SampleBuffer | None = None) -> BufferStatus:
    """Publish this host's depth, oldest value and drops to Redis (for the pages and, later, alarms)."""
    buffer = buffer or local_buffer()
    status = buffer.status(buffer_host())
    try:
        redis_client().hset(BUFFER_STATUS_KEY, status.host, json.dumps({**status.as_json(), "published": time.time()}))
    except redis.exceptions.RedisError:
        logger.warning("could not publish the store-and-forward buffer status", exc_info=True)
    return status


def _hooked(rows: list[SampleRow | TextSampleRow]) -> list[SampleRow]:
    """What the after-store hooks get of replayed rows: what the live path gives them (ingest.pipeline.store): string
    tags' rows with their quality only, and no out-of-service or acquisition-down marker (a device switched off on
    purpose alarms no one; a gap in acquisition is the acquisition's, not the process's)."""
    return [
        SampleRow(r.time, r.tag_id, None, r.quality) if is_text_row(r) else cast(SampleRow, r)
        for r in rows
        if r.quality not in (Quality.BAD_OUT_OF_SERVICE, Quality.BAD_ACQUISITION_DOWN)
    ]


@dataclass(frozen=True)
class ReplayOutcome:
    replayed: int
    remaining: int


def buffer_replay(
    *,
    buffer: SampleBuffer | None = None,
    batch_rows: int = 5000,
    max_seconds: float = 5.0,
    hooks: Sequence[AfterStoreHook] | None = None,
) -> ReplayOutcome:
    """Write buffered rows to the database, oldest first, until the buffer is empty or `max_seconds` passed.

    The replayed rows go to `hooks` (the writer's: ingest.pipeline.context); without, to hooks made for this
    replay (the replay task). Database errors propagate (the rows stay buffered). Safe to run in several
    processes at once: a row written twice is stored once.
    """
    buffer = buffer or local_buffer()
    hooks = after_store_hooks_make() if hooks is None else hooks
    replayed = 0
    deadline = time.monotonic() + max_seconds
    while True:
        batch = buffer.peek(batch_rows)
        if not batch:
            break
        rows = [row for _, row in batch]
        text = [row for row in rows if is_text_row(row)]
        samples_write_batch(rows=[row for row in rows if not is_text_row(row)], idempotent=True)
        if text:
            text_samples_write_batch(rows=text)
        buffer.remove([i for i, _ in batch])
        replayed += len(batch)
        after_store_run(hooks=hooks, rows=_hooked(rows), now=datetime.now(UTC))
        if time.monotonic() >= deadline:
            break
    remaining = buffer.depth()
    if replayed:
        logger.info("replayed %d buffered samples, %d remain", replayed, remaining)
        buffer_status_publish(buffer=buffer)
    return ReplayOutcome(replayed=replayed, remaining=remaining)
