"""Writing samples: history through binary COPY, current values with one set-based UPDATE.

Both take a SampleBatch (columns) as well as SampleRows; the COPY stream and the UPDATE's array parameters are
built from the columns by numpy (historian.sample_types), so a write costs no Python object per value.
"""

import operator
import struct
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import psycopg
from django.db import connection, transaction
from django.utils import timezone
from psycopg import adapt, pq, sql

from historian.sample_types import (
    CURRENT_VALUE_TABLE,
    PG_EPOCH_US,
    SAMPLE_TABLE,
    SampleBatch,
    SampleRow,
    copy_binary_payload,
    datetime_to_us,
)
from historian.storage import sample_storage

_COLUMNS = sql.SQL("time, tag_id, value, quality")

Samples = SampleBatch | Sequence[SampleRow]


_FIELDS = tuple(operator.itemgetter(i) for i in range(4))  # time, tag_id, value, quality of a SampleRow


def as_batch(rows: Samples) -> SampleBatch:
    """Rows as columns. SampleRows (a replay, a flush, a caller that has rows) are taken apart field by field with
    C-level maps, and each distinct time converted once (the rows of a scan share one): the profile of
    bench/ingest.py showed the row-by-row conversion (`SampleBatch.from_rows`, zip(*rows) and a datetime
    subtraction per row) as the largest cost of the write path, above the COPY; this is about 5x cheaper."""
    if isinstance(rows, SampleBatch):
        return rows
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return SampleBatch.empty()
    count = len(rows)
    times = list(map(_FIELDS[0], rows))
    micros = {t: datetime_to_us(t) for t in set(times)}
    return SampleBatch(
        time_us=np.fromiter(map(micros.__getitem__, times), dtype=np.int64, count=count),
        tag_id=np.fromiter(map(_FIELDS[1], rows), dtype=np.int32, count=count),
        value=np.array(list(map(_FIELDS[2], rows)), dtype=np.float64),  # None becomes NaN
        quality=np.fromiter(map(_FIELDS[3], rows), dtype=np.int16, count=count),
    )


def samples_write_batch(
    *,
    rows: Samples,
    idempotent: bool = False,
    statement_timeout_ms: int | None = None,
    current_values: bool = True,
    current_only: Samples = (),
) -> int:
    """Store `rows` in history and bring the current values of their tags up to date, in one transaction.

    The fast path is one binary COPY. A batch that repeats rows already stored (a retried poll, a replay) fails
    the COPY on the (tag, time) key and is then written through a staging table with ON CONFLICT DO NOTHING, so a
    write is idempotent and never loses the new rows of a partly repeated batch. `idempotent=True` goes straight
    to that path (a replay, which expects repeats). `statement_timeout_ms` bounds each statement: a database too
    slow for the caller's budget raises (psycopg QueryCanceled, an OperationalError) instead of stalling it.
    `current_values=False` leaves the current values alone (a backfill of past values, e.g. Sparkplug historical
    metrics). `current_only` rows update current values alone (tags not historized, values compression kept out of
    history), in the same statement as those of `rows`. Returns the rows historized.
    """
    rows, current_only = as_batch(rows), as_batch(current_only)
    if not len(rows):
        if current_values and len(current_only):
            current_values_write(rows=current_only)
        return 0
    current = SampleBatch.concat([rows, current_only]) if current_values else None
    # Partitions are created in their own transaction: a rolled-back batch must not un-create them.
    days = rows.days()
    if not sample_storage().days_prepared(days):
        with transaction.atomic(), connection.cursor() as cursor:
            _statement_timeout(cursor, statement_timeout_ms)
            sample_storage().prepare_days(cursor, days)

    def write(*, idempotent: bool) -> None:
        with transaction.atomic():
            _statement_timeout(None, statement_timeout_ms)
            _history_write(rows, idempotent=idempotent)
            _late_rows_record(rows)
            if current is not None:
                current_values_write(rows=current)

    try:
        write(idempotent=idempotent)
    except psycopg.errors.UniqueViolation:  # the batch repeats stored rows: again, through the staging table
        write(idempotent=True)
    return len(rows)


def _statement_timeout(cursor, timeout_ms: int | None) -> None:
    """SET LOCAL: the limit ends with the transaction."""
    if timeout_ms is None:
        return
    statement = sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(timeout_ms)))
    if cursor is not None:
        cursor.cursor.execute(statement)
        return
    with connection.cursor() as own:
        own.cursor.execute(statement)


def _late_rows_record(rows: SampleBatch) -> None:
    """Plain PostgreSQL: note the rows behind the rollups' watermark, for the next refresh to re-roll their buckets.

    In the write's transaction, so the note and the rows commit (or roll back) together.
    """
    with connection.cursor() as cursor:
        sample_storage().late_rows_record(cursor.cursor, rows)


def _history_write(rows: SampleBatch, *, idempotent: bool) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if not idempotent:
            _copy_rows(raw, sql.Identifier(SAMPLE_TABLE), rows)
            return
        staging = sql.Identifier("historian_sample_staging")
        raw.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                staging, sql.Identifier(SAMPLE_TABLE)
            )
        )
        _copy_rows(raw, staging, rows)
        raw.execute(
            sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging} ON CONFLICT (tag_id, time) DO NOTHING"
            ).format(table=sql.Identifier(SAMPLE_TABLE), cols=_COLUMNS, staging=staging)
        )
        raw.execute(sql.SQL("TRUNCATE {}").format(staging))


def _copy_rows(raw_cursor, table: sql.Composable, rows: SampleBatch) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, _COLUMNS)
    with raw_cursor.copy(statement) as copy:
        copy.write(copy_binary_payload(rows))


class _PgArray:
    """A one-dimensional numpy array passed as a binary PostgreSQL array parameter (no NULL elements)."""

    __slots__ = ("values",)
    element_oid: ClassVar[int] = 0
    element: ClassVar[np.dtype[Any]] = np.dtype(">i4")

    def __init__(self, values: np.ndarray) -> None:
        self.values = values


class _Int4Array(_PgArray):
    element_oid, element = 23, np.dtype(">i4")


class _Int2Array(_PgArray):
    element_oid, element = 21, np.dtype(">i2")


class _Float8Array(_PgArray):
    element_oid, element = 701, np.dtype(">f8")


class _TimestamptzArray(_PgArray):
    """From microseconds since the Unix epoch."""

    element_oid, element = 1184, np.dtype(">i8")


class _PgArrayDumper(adapt.Dumper):
    format = pq.Format.BINARY

    def dump(self, obj: _PgArray) -> bytes:
        values = obj.values - PG_EPOCH_US if isinstance(obj, _TimestamptzArray) else obj.values
        out = np.empty(len(values), dtype=[("len", ">i4"), ("v", obj.element)])
        out["len"] = obj.element.itemsize
        out["v"] = values
        return struct.pack(">iiiii", 1, 0, obj.element_oid, len(values), 1) + out.tobytes()


for _cls, _oid in ((_Int4Array, 1007), (_Int2Array, 1005), (_Float8Array, 1022), (_TimestamptzArray, 1185)):
    psycopg.adapters.register_dumper(_cls, type(f"{_cls.__name__}Dumper", (_PgArrayDumper,), {"oid": _oid}))


def current_values_write(*, rows: Samples) -> None:
    """Keep the newest value per tag. An older value (a late or replayed one) never overwrites a newer one."""
    latest = as_batch(rows).latest_per_tag()
    if not len(latest):
        return
    params = [
        _Int4Array(latest.tag_id),
        _TimestamptzArray(latest.time_us),
        _Float8Array(latest.value),
        _Int2Array(latest.quality),
    ]
    # NaN stands for NULL in a SampleBatch's values.
    source = sql.SQL(
        "(SELECT tag_id, time, NULLIF(value, 'NaN') AS value, quality "
        "FROM unnest(%b::int4[], %b::timestamptz[], %b::float8[], %b::int2[]) AS a(tag_id, time, value, quality)) AS u"
    )
    table = sql.Identifier(CURRENT_VALUE_TABLE)
    connection.ensure_connection()
    # A server-binding cursor with binary parameters: Django's client-side cursor would spell the four arrays out
    # as SQL literals, which bench/ingest.py measured at 42 of the 50 ms of a 10k-tag update (binary: 10 ms).
    # The plain UPDATE (HOT, thanks to fillfactor 50) then costs ~0.65x an upsert; the upsert runs only when some
    # tag has no row yet (its first value) or a value arrived late.
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute(
            sql.SQL(
                "UPDATE {table} AS cv SET time = u.time, value = u.value, quality = u.quality, text_value = NULL "
                "FROM {source} "
                "WHERE cv.tag_id = u.tag_id AND u.time >= cv.time"
            ).format(table=table, source=source),
            params,
        )
        if raw.rowcount == len(latest):
            return
        raw.execute(
            sql.SQL(
                "INSERT INTO {table} AS cv (tag_id, time, value, quality) "
                "SELECT u.tag_id, u.time, u.value, u.quality FROM {source} "
                "ON CONFLICT (tag_id) DO UPDATE SET time = excluded.time, value = excluded.value, "
                "quality = excluded.quality, text_value = NULL WHERE excluded.time >= cv.time"
            ).format(table=table, source=source),
            params,
        )


def sample_partitions_create_ahead(*, days: int) -> list[str]:
    """Create storage for today and the next `days` days; returns the partitions made (plain PostgreSQL)."""
    with transaction.atomic(), connection.cursor() as cursor:
        return sample_storage().create_ahead(cursor, start=timezone.now(), days=days)
