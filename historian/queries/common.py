"""What the history reads share: argument checks, the tags' reading settings, the quality rule, raw fetches.

A sample is *usable* when its quality is good (OPC DA top bits 11) and its value finite, the rollups' rule for
"good" (historian.storage.base.Rollup). Any other sample (bad, uncertain, no value) is a gap: nothing is interpolated
across it, time-weighted figures leave its time out, aggregates count it only in `bad_count`.
"""

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import psycopg
from django.db import connections
from psycopg import sql

from common.replicas import read_alias
from historian.models.tags import Interpolation, Tag
from historian.quality import quality_is_good
from historian.sample_types import SAMPLE_TABLE

from .errors import HistoryQueryError

MAX_RAW_POINTS = 100_000
MAX_INTERVALS = 100_000
MAX_PIXELS = 10_000
MAX_TAGS = 10_000
# Values (tags x intervals or pixels) one request may return.
MAX_VALUES = 2_000_000

# The same rule as `usable()`, in SQL; never NULL, so NOT usable is exactly "the others".
USABLE_SQL = sql.SQL(
    "((quality & 192) = 192 AND value IS NOT NULL AND value > '-Infinity'::float8 AND value < 'Infinity'::float8)"
)


class Point(NamedTuple):
    time: datetime
    value: float | None  # the text, for the raw values of a string tag
    quality: int


def usable(point: Point) -> bool:
    return point.value is not None and math.isfinite(point.value) and quality_is_good(point.quality)


def usable_value(point: Point) -> float | None:
    """The value of a usable point, None for any other (one test, and the value typed as present)."""
    return point.value if usable(point) else None


@dataclass(frozen=True)
class TagReading:
    """How history reads one tag between and across its samples."""

    tag_id: int
    interpolation: str
    counter_rollover: float | None
    is_text: bool = False  # a string tag: raw values only, from the text table

    @property
    def linear(self) -> bool:
        return self.interpolation == Interpolation.LINEAR


def check_range(start: datetime, end: datetime) -> None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise HistoryQueryError("start and end must be datetimes.")
    if start.tzinfo is None or end.tzinfo is None:
        raise HistoryQueryError("start and end must carry a time zone.")
    if end <= start:
        raise HistoryQueryError("end must be after start.")


def check_intervals(*, start: datetime, end: datetime, interval: timedelta) -> int:
    """The number of intervals [start + k * interval, ...) that cover [start, end); refuses too many."""
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise HistoryQueryError("interval must be a positive timedelta.")
    count = -(-(end - start) // interval)
    if count > MAX_INTERVALS:
        raise HistoryQueryError(
            f"{count} intervals of {interval} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}: at most "
            f"{MAX_INTERVALS} can be asked at once. Use a longer interval or a shorter range."
        )
    return count


def check_volume(*, tags: int, per_tag: int, what: str) -> None:
    if tags * per_tag > MAX_VALUES:
        raise HistoryQueryError(
            f"{tags} tags x {per_tag} {what} is more than the {MAX_VALUES} values one request may return; ask for "
            f"fewer tags or fewer {what}."
        )


def tag_readings(tag_ids: Sequence[int], *, text: bool = False) -> dict[int, TagReading]:
    """The reading settings of `tag_ids`, in their order; an unknown id is a HistoryQueryError, and so is a string
    tag unless `text` (the reads that compute with values: interpolation, aggregates, plot values)."""
    ids = list(dict.fromkeys(tag_ids))
    if any(isinstance(tag_id, bool) or not isinstance(tag_id, int) for tag_id in ids):
        raise HistoryQueryError("tag ids must be integers.")
    if len(ids) > MAX_TAGS:
        raise HistoryQueryError(f"{len(ids)} tags asked at once: at most {MAX_TAGS}; ask in several requests.")
    reading_fields = ("path", "data_type", "interpolation", "counter_rollover")
    found = {tag.pk: tag for tag in Tag.objects.filter(pk__in=ids).only(*reading_fields)}
    missing = [tag_id for tag_id in ids if tag_id not in found]
    if missing:
        shown = ", ".join(str(tag_id) for tag_id in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise HistoryQueryError(f"Unknown tag id{'s' if len(missing) > 1 else ''}: {shown}.")
    if not text:
        text_refuse([found[tag_id] for tag_id in ids])
    return {
        tag_id: TagReading(
            tag_id, found[tag_id].effective_interpolation, found[tag_id].counter_rollover, found[tag_id].is_text
        )
        for tag_id in ids
    }


def text_refuse(tags: Sequence[Tag]) -> None:
    """Values of string tags cannot be interpolated, aggregated or plotted: say so rather than return nonsense."""
    text = [tag for tag in tags if tag.is_text]
    if text:
        shown = ", ".join(f"{tag.path} (id {tag.pk})" for tag in text[:5]) + (" ..." if len(text) > 5 else "")
        raise HistoryQueryError(
            f"String tag{'s' if len(text) > 1 else ''} {shown} hold{'' if len(text) > 1 else 's'} text, which cannot "
            "be interpolated, aggregated or plotted; ask for raw values instead."
        )


@contextmanager
def read_cursor() -> Iterator[psycopg.Cursor]:
    """A binary, server-binding psycopg cursor on Django's connection (and transaction): reading many rows this
    way costs a fraction of Django's text ClientCursor. The connection is `read_alias()`'s: a read replica inside
    `common.replicas.replica_reads()`, else the primary."""
    connection = connections[read_alias()]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.format = psycopg.pq.Format.BINARY
        yield cursor


def fetch_raw(
    cursor: psycopg.Cursor,
    *,
    tag_ids: Sequence[int],
    start: datetime,
    end: datetime,
    limit: int | None = None,
    table: str = SAMPLE_TABLE,
) -> dict[int, list[Point]]:
    """Samples with start <= time < end per tag, oldest first; at most `limit` (+ 1, to tell) per tag.

    `table`: TEXT_SAMPLE_TABLE for string tags (the same columns, text values)."""
    result: dict[int, list[Point]] = {tag_id: [] for tag_id in tag_ids}
    if not tag_ids:
        return result
    limit_sql = sql.SQL("LIMIT {}").format(sql.Literal(limit + 1)) if limit is not None else sql.SQL("")
    cursor.execute(
        sql.SQL(
            "SELECT s.tag_id, s.time, s.value, s.quality FROM unnest(%s::int4[]) AS t(id) "
            "CROSS JOIN LATERAL (SELECT tag_id, time, value, quality FROM {table} "
            "WHERE tag_id = t.id AND time >= %s AND time < %s ORDER BY time {limit}) AS s"
        ).format(table=sql.Identifier(table), limit=limit_sql),
        [list(tag_ids), start, end],
    )
    for tag_id, time, value, quality in cursor:
        result[tag_id].append(Point(time, value, quality))
    return result


def fetch_boundaries(
    cursor: psycopg.Cursor,
    *,
    tag_ids: Sequence[int],
    before: datetime,
    after: datetime,
    table_name: str = SAMPLE_TABLE,
) -> dict[int, tuple[Point | None, Point | None]]:
    """Per tag: the newest sample with time < `before` and the oldest with time >= `after` (any quality)."""
    if not tag_ids:
        return {}
    table = sql.Identifier(table_name)
    cursor.execute(
        sql.SQL(
            "SELECT t.id, b.time, b.value, b.quality, a.time, a.value, a.quality FROM unnest(%s::int4[]) AS t(id) "
            "LEFT JOIN LATERAL (SELECT time, value, quality FROM {table} WHERE tag_id = t.id AND time < %s "
            "ORDER BY time DESC LIMIT 1) AS b ON true "
            "LEFT JOIN LATERAL (SELECT time, value, quality FROM {table} WHERE tag_id = t.id AND time >= %s "
            "ORDER BY time LIMIT 1) AS a ON true"
        ).format(table=table),
        [list(tag_ids), before, after],
    )
    return {
        row[0]: (
            Point(row[1], row[2], row[3]) if row[1] is not None else None,
            Point(row[4], row[5], row[6]) if row[4] is not None else None,
        )
        for row in cursor
    }
