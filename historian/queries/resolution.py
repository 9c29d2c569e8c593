"""Which data answers a long-range read: raw samples, the 1-minute rollup or the 1-hour rollup.

The rule (`resolution_for`): read the finest source that holds at most ROWS_PER_TAG rows per tag for the range,
counting one raw sample per second (the fastest scan class) and one rollup row per minute or hour:

    range <= 100,000 s (27.8 h)        raw samples          (1 h, 1 d)
    range <= 100,000 min (69.4 days)   historian_rollup_1m  (30 d)
    longer                             historian_rollup_1h  (365 d, 10 years: 87,660 rows)

so any range from a minute to ten years reads at most ~100,000 rows per tag, and what comes back is bounded by the
caller's pixels or intervals. A rollup row summarises the samples of one (tag, bucket): count, min, max, sum,
sum of squares, first and last (time and value) of the good samples, and the count of the others. Rollups are
filled up to a watermark (`historian.storage.rollup_watermark`); buckets at or after it, and the partial buckets at
the edges of a range, are computed from raw samples in the same query, so results are always current and exact
wherever first/last/min/max/count/sum add up exactly (everything but the time-weighted figures: see aggregates).
Samples written late, behind the watermark (a backfill, a replayed buffer, a test's fixed times), reach the
rollups, and so these reads, at the next refresh (plain PostgreSQL: `historian.services.rollups.rollups_refresh`,
run by beat; TimescaleDB: the refresh policy).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import psycopg
from psycopg import sql

from historian import storage
from historian.sample_types import SAMPLE_TABLE
from historian.storage import ROLLUP_1H, ROLLUP_1M
from historian.storage.base import BUCKET_ORIGIN

from .common import USABLE_SQL
from .errors import HistoryQueryError

ROWS_PER_TAG = 100_000
ORIGIN = BUCKET_ORIGIN


@dataclass(frozen=True)
class Resolution:
    name: str
    width: timedelta | None  # None: raw samples
    relation: str | None

    def __str__(self) -> str:
        return self.name


RAW = Resolution("raw", None, None)
MINUTE = Resolution(ROLLUP_1M.name, ROLLUP_1M.width, ROLLUP_1M.relation)
HOUR = Resolution(ROLLUP_1H.name, ROLLUP_1H.width, ROLLUP_1H.relation)
RESOLUTIONS = (RAW, MINUTE, HOUR)


def check_resolution(resolution: Resolution | None) -> None:
    if resolution is not None and not any(resolution is known for known in RESOLUTIONS):
        names = ", ".join(r.name for r in RESOLUTIONS)
        raise HistoryQueryError(f"resolution must be one of {names} (historian.queries.resolution), or None.")


def resolution_for(*, start: datetime, end: datetime) -> Resolution:
    """The finest source that reads at most ROWS_PER_TAG rows per tag for [start, end) (see the module doc)."""
    span = end - start
    if span <= timedelta(seconds=ROWS_PER_TAG):
        return RAW
    if span <= timedelta(minutes=ROWS_PER_TAG):
        return MINUTE
    return HOUR


class Bucket(NamedTuple):
    """One rollup row, or the same summary computed from raw samples (usable samples only, bad ones counted)."""

    tag_id: int
    bucket: datetime
    count: int  # type: ignore[assignment]  # the rollup column's name; it hides tuple.count, unused here
    min: float | None
    max: float | None
    sum: float | None
    sum_sq: float | None
    first_time: datetime | None
    first_value: float | None
    last_time: datetime | None
    last_value: float | None
    bad_count: int


def floor_to(at: datetime, width: timedelta) -> datetime:
    return at - (at - ORIGIN) % width


def ceil_to(at: datetime, width: timedelta) -> datetime:
    floored = floor_to(at, width)
    return floored if floored == at else floored + width


def rollup_watermark(cursor: psycopg.Cursor, resolution: Resolution) -> datetime | None:
    """Rollup rows are final before this bucket boundary; None: complete, real time included (TimescaleDB)."""
    return storage.rollup_watermark(cursor, resolution.name)


def fetch_buckets(
    cursor: psycopg.Cursor, *, tag_ids: Sequence[int], start: datetime, end: datetime, resolution: Resolution
) -> dict[int, list[Bucket]]:
    """Per tag, the `resolution` buckets of [start, end) in time order (see `buckets_query`)."""
    result: dict[int, list[Bucket]] = {tag_id: [] for tag_id in tag_ids}
    query = buckets_query(cursor, tag_ids=tag_ids, start=start, end=end, resolution=resolution)
    if query is None:
        return result
    statement, params = query
    cursor.execute(sql.SQL("{} ORDER BY 1, 2").format(statement), params)
    for row in cursor:
        result[row[0]].append(Bucket(*row))
    return result


def buckets_query(
    cursor: psycopg.Cursor, *, tag_ids: Sequence[int], start: datetime, end: datetime, resolution: Resolution
) -> tuple[sql.Composable, list] | None:
    """A query for the `resolution` buckets of [start, end) with the Bucket columns, and its parameters (None if
    there is nothing to read).

    Whole buckets before the watermark come from the rollup; the partial buckets at the edges and everything from
    the watermark on are summarised from raw samples, labelled no earlier than `start`.
    """
    assert resolution.width is not None  # a rollup, not RAW
    assert resolution.relation is not None
    width = resolution.width
    first_whole, last_whole = ceil_to(start, width), floor_to(end, width)
    rollup_end = last_whole
    if first_whole < last_whole:
        watermark = rollup_watermark(cursor, resolution)
        if watermark is not None:
            rollup_end = max(first_whole, min(last_whole, floor_to(watermark, width)))
    else:
        first_whole = rollup_end = start
    parts: list[sql.Composable] = []
    params: list = []
    if first_whole < rollup_end:
        parts.append(
            sql.SQL(
                'SELECT tag_id, bucket, sample_count, "min", "max", "sum", sum_sq, first_time, first_value, '
                "last_time, last_value, bad_count FROM {} WHERE tag_id = ANY(%s::int4[]) AND bucket >= %s "
                "AND bucket < %s"
            ).format(sql.Identifier(resolution.relation))
        )
        params += [list(tag_ids), first_whole, rollup_end]
    for low, high in ((start, first_whole), (rollup_end, end)):
        if low < high:
            parts.append(RAW_BUCKETS_SQL)
            params += [width, low, list(tag_ids), low, high]
    if not tag_ids or not parts:
        return None
    return sql.SQL(" UNION ALL ").join(sql.SQL("({})").format(part) for part in parts), params


RAW_BUCKETS_SQL = sql.SQL(
    "SELECT tag_id, greatest(date_bin(%s::interval, time, {origin}), %s::timestamptz) AS bucket, "
    "count(*) FILTER (WHERE {usable}), min(value) FILTER (WHERE {usable}), max(value) FILTER (WHERE {usable}), "
    "sum(value) FILTER (WHERE {usable}), sum(value * value) FILTER (WHERE {usable}), "
    "min(time) FILTER (WHERE {usable}), (array_agg(value ORDER BY time) FILTER (WHERE {usable}))[1], "
    "max(time) FILTER (WHERE {usable}), (array_agg(value ORDER BY time DESC) FILTER (WHERE {usable}))[1], "
    "count(*) FILTER (WHERE NOT {usable}) "
    "FROM {table} WHERE tag_id = ANY(%s::int4[]) AND time >= %s AND time < %s GROUP BY 1, 2"
).format(origin=sql.Literal(ORIGIN), usable=USABLE_SQL, table=sql.Identifier(SAMPLE_TABLE))
