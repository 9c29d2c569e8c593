"""Raw samples of a few tags, optionally with the samples just outside the range (for drawing its edges)."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
from psycopg import sql

from historian.sample_types import SAMPLE_TABLE, TEXT_SAMPLE_TABLE

from .common import (
    MAX_RAW_POINTS,
    Point,
    TagReading,
    check_range,
    fetch_boundaries,
    fetch_raw,
    read_cursor,
    tag_readings,
)
from .errors import HistoryQueryError


class RawValues(NamedTuple):
    points: list[Point]
    before: Point | None  # the newest sample before start (with boundaries=True)
    after: Point | None  # the oldest sample at or after end (with boundaries=True)


def raw_values(
    *,
    tag_ids: Sequence[int],
    start: datetime,
    end: datetime,
    boundaries: bool = False,
    max_points: int = 10_000,
) -> dict[int, RawValues]:
    """Samples of any quality with start <= time < end per tag, oldest first (a string tag's values are its texts).

    More than `max_points` samples for a tag is a HistoryQueryError, never a silent cut.
    """
    check_range(start, end)
    if not 0 < max_points <= MAX_RAW_POINTS:
        raise HistoryQueryError(f"max_points must be between 1 and {MAX_RAW_POINTS}, not {max_points}.")
    tags = tag_readings(tag_ids, text=True)
    points: dict[int, list[Point]] = {}
    edges: dict[int, tuple[Point | None, Point | None]] = {}
    with read_cursor() as cursor:
        # String tags' samples are in their own table; the same reads, on it.
        for table, ids in _by_table(tags).items():
            points |= fetch_raw(cursor, tag_ids=ids, start=start, end=end, limit=max_points, table=table)
            if boundaries:
                edges |= fetch_boundaries(cursor, tag_ids=ids, before=start, after=end, table_name=table)
    for tag_id, series in points.items():
        if len(series) > max_points:
            raise HistoryQueryError(
                f"Tag {tag_id} has more than {max_points} samples between {start:%Y-%m-%d %H:%M:%S} and "
                f"{end:%Y-%m-%d %H:%M:%S}; ask for a shorter range, or for plot values or aggregates."
            )
    return {tag_id: RawValues(points[tag_id], *edges.get(tag_id, (None, None))) for tag_id in tags}


def _by_table(tags: dict[int, TagReading]) -> dict[str, list[int]]:
    numeric = [tag_id for tag_id, tag in tags.items() if not tag.is_text]
    text = [tag_id for tag_id, tag in tags.items() if tag.is_text]
    return {table: ids for table, ids in ((SAMPLE_TABLE, numeric), (TEXT_SAMPLE_TABLE, text)) if ids}


class RawColumns(NamedTuple):
    """One tag's samples as columns: `time_us` (int64, microseconds since the Unix epoch), `value` (float64, NaN
    where None), `quality` (int16), oldest first."""

    time_us: np.ndarray
    value: np.ndarray
    quality: np.ndarray


# One row as timestamptz_send(time) (int8: microseconds since 2000-01-01) || float8send(value) || int2send(quality):
# 18 bytes, big-endian.
_PACKED_ROW = np.dtype([("t", ">i8"), ("v", ">f8"), ("q", ">i2")])
#: Rows read per query (about 54 MB of packed bytes): longer ranges are read in slices of time.
MAX_COLUMN_ROWS = 3_000_000
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since the Unix epoch
_SLICE = timedelta(days=7)


def raw_columns(*, tag_id: int, start: datetime, end: datetime) -> RawColumns:
    """A numeric tag's samples with start <= time < end, any quality, as numpy columns: for reading months of
    1 s values at once (a rule's backtest) without a Python object per value. The server packs each slice of a
    week into one bytea (fixed-size big-endian rows), parsed here in one pass."""
    check_range(start, end)
    query = sql.SQL(
        "SELECT string_agg(timestamptz_send(time) || "
        "float8send(coalesce(value, 'NaN'::float8)) || int2send(quality::int2), ''::bytea ORDER BY time), count(*) "
        "FROM {table} WHERE tag_id = %s AND time >= %s AND time < %s"
    ).format(table=sql.Identifier(SAMPLE_TABLE))
    parts = []
    with read_cursor() as cursor:
        low = start
        while low < end:
            high = min(end, low + _SLICE)
            cursor.execute(query, [int(tag_id), low, high])
            packed, count = cursor.fetchone() or (None, 0)  # an aggregate: always one row
            if count > MAX_COLUMN_ROWS:
                raise HistoryQueryError(f"Tag {tag_id} has more than {MAX_COLUMN_ROWS} samples in a week: too many.")
            if packed:
                parts.append(np.frombuffer(packed, dtype=_PACKED_ROW))
            low = high
    rows = np.concatenate(parts) if parts else np.empty(0, dtype=_PACKED_ROW)
    return RawColumns(
        rows["t"].astype(np.int64) + _PG_EPOCH_US, rows["v"].astype(np.float64), rows["q"].astype(np.int16)
    )
