"""Long reads for exports, in bounded chunks: memory stays constant however long the range.

Raw samples come through a server-side (named) cursor, one tag at a time in time order (an index range scan on
(tag_id, time), no sort); aggregates are computed a slice of the range at a time by `aggregate_values`, with the
same semantics as one call over the whole range (each slice reads the samples just outside it).
"""

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import count

from django.db import connections, transaction
from psycopg import sql

from common.replicas import read_alias
from historian.sample_types import SAMPLE_TABLE, TEXT_SAMPLE_TABLE

from .aggregates import AggregateInterval, aggregate_resolution, aggregate_values
from .common import check_intervals, check_range, tag_readings
from .errors import HistoryQueryError

CHUNK_ROWS = 5000
# Intervals per aggregate slice: each slice reads at most ~100,000 rows per tag whatever its source (resolution).
SLICE_INTERVALS = 10_000
MAX_EXPORT_ROWS = 100_000_000
_cursor_names = count()


def raw_export_check(*, tag_ids: Sequence[int], start: datetime, end: datetime) -> list[int]:
    """Checks what `raw_export_chunks` would refuse, before a response starts; returns the tag ids in order."""
    check_range(start, end)
    return list(tag_readings(tag_ids, text=True))


def raw_export_chunks(
    *, tag_ids: Sequence[int], start: datetime, end: datetime, chunk_rows: int = CHUNK_ROWS
) -> Iterator[list[tuple[int, datetime, float | str | None, int]]]:
    """(tag_id, time, value, quality) of every sample with start <= time < end, any quality, tag by tag (in the
    order given) and oldest first, in lists of at most `chunk_rows`; a string tag's values are its texts."""
    check_range(start, end)
    tags = tag_readings(tag_ids, text=True)
    statement = sql.SQL(
        "SELECT tag_id, time, value, quality FROM {table} WHERE tag_id = %s AND time >= %s AND time < %s ORDER BY time"
    )
    statements = {
        False: statement.format(table=sql.Identifier(SAMPLE_TABLE)),
        True: statement.format(table=sql.Identifier(TEXT_SAMPLE_TABLE)),
    }
    connection = connections[read_alias()]
    connection.ensure_connection()
    # A named cursor lives inside a transaction; leaving the generator early rolls it back (nothing was written).
    with transaction.atomic(using=connection.alias):
        for tag_id, tag in tags.items():
            name = f"historian_export_{next(_cursor_names)}"
            with connection.connection.cursor(name=name, binary=True) as cursor:
                cursor.itersize = chunk_rows
                cursor.execute(statements[tag.is_text], [tag_id, start, end])
                while rows := cursor.fetchmany(chunk_rows):
                    yield rows


def aggregate_export_check(*, tag_ids: Sequence[int], start: datetime, end: datetime, interval: timedelta) -> list[int]:
    """Checks what `aggregate_export_chunks` would refuse, before a response starts; returns the tag ids."""
    check_range(start, end)
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise HistoryQueryError("interval must be a positive timedelta.")
    ids = list(tag_readings(tag_ids))
    total = -(-(end - start) // interval) * len(ids)
    if total > MAX_EXPORT_ROWS:
        raise HistoryQueryError(
            f"{total} rows ({len(ids)} tags x intervals of {interval}): an export has at most {MAX_EXPORT_ROWS}. "
            "Use a longer interval, a shorter range or fewer tags."
        )
    step = _step(start=start, end=end, interval=interval)
    first = (start, min(start + step, end))
    last = (start + step * ((end - start - timedelta(microseconds=1)) // step), end)
    for low, high in (first, last):
        check_intervals(start=low, end=high, interval=interval)
        aggregate_resolution(start=low, end=high, interval=interval)
    return ids


def aggregate_export_chunks(
    *, tag_ids: Sequence[int], start: datetime, end: datetime, interval: timedelta
) -> Iterator[tuple[int, list[AggregateInterval]]]:
    """(tag_id, intervals) slice after slice: tag by tag, oldest first; the intervals of `aggregate_values` over
    [start, end), computed SLICE_INTERVALS at a time (every slice but the last is a whole number of intervals)."""
    ids = aggregate_export_check(tag_ids=tag_ids, start=start, end=end, interval=interval)
    for tag_id in ids:
        for low, high in _slices(start=start, end=end, interval=interval):
            yield tag_id, aggregate_values(tag_ids=[tag_id], start=low, end=high, interval=interval).series[tag_id]


def _step(*, start: datetime, end: datetime, interval: timedelta) -> timedelta:
    return interval * min(SLICE_INTERVALS, -(-(end - start) // interval))


def _slices(*, start: datetime, end: datetime, interval: timedelta) -> Iterator[tuple[datetime, datetime]]:
    step = _step(start=start, end=end, interval=interval)
    low = start
    while low < end:
        high = min(low + step, end)
        yield low, high
        low = high
