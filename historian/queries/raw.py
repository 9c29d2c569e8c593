"""Raw samples of a few tags, optionally with the samples just outside the range (for drawing its edges)."""

from collections.abc import Sequence
from datetime import datetime
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


# COPY ... (FORMAT BINARY) of (int8, float8, int2), never NULL: fixed-size rows (field count, then length + data).
_COPY_HEADER = 19
_COPY_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("t", ">i8"), ("l2", ">i4"), ("v", ">f8"), ("l3", ">i4"), ("q", ">i2")]
)
MAX_COLUMN_ROWS = 50_000_000


def raw_columns(*, tag_id: int, start: datetime, end: datetime) -> RawColumns:
    """A numeric tag's samples with start <= time < end, any quality, as numpy columns: for reading months of
    1 s values at once (a rule's backtest) without a Python object per value. Binary COPY, parsed in one pass."""
    check_range(start, end)
    query = sql.SQL(
        "COPY (SELECT (extract(epoch FROM time) * 1000000)::int8, coalesce(value, 'NaN'::float8), quality::int2 "
        "FROM {table} WHERE tag_id = {tag} AND time >= {start} AND time < {end} ORDER BY time "
        "LIMIT {limit}) TO STDOUT (FORMAT BINARY)"
    ).format(
        table=sql.Identifier(SAMPLE_TABLE),
        tag=sql.Literal(int(tag_id)),
        start=sql.Literal(start),
        end=sql.Literal(end),
        limit=sql.Literal(MAX_COLUMN_ROWS + 1),
    )
    chunks = []
    with read_cursor() as cursor, cursor.copy(query) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    data = b"".join(chunks)
    body = data[_COPY_HEADER : len(data) - 2]  # the header, and the trailer (-1)
    rows = np.frombuffer(body, dtype=_COPY_ROW, count=len(body) // _COPY_ROW.itemsize)
    if len(rows) > MAX_COLUMN_ROWS:
        raise HistoryQueryError(f"Tag {tag_id} has more than {MAX_COLUMN_ROWS} samples in the range: shorten it.")
    return RawColumns(rows["t"].astype(np.int64), rows["v"].astype(np.float64), rows["q"].astype(np.int16))
