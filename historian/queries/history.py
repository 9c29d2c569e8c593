"""Reading samples back: raw history of a few tags and the current value of many."""

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connections
from psycopg import sql

from common.replicas import read_alias
from historian.sample_types import CURRENT_VALUE_TABLE, SAMPLE_TABLE

from .common import MAX_RAW_POINTS, Point, check_range, read_cursor
from .errors import HistoryQueryError

__all__ = ["CurrentValue", "CurrentValues", "Point", "current_values", "tag_history"]


class CurrentValue(NamedTuple):
    tag_id: int
    time: datetime
    value: float | str | None  # text for string tags
    quality: int


def tag_history(
    *, tag_ids: Sequence[int], start: datetime, end: datetime, max_points: int = 10_000
) -> dict[int, list[Point]]:
    """Raw samples with start <= time < end per tag, oldest first.

    A tag with more than `max_points` samples in the range raises HistoryQueryError rather than being truncated
    silently: the caller asks for a shorter range (or, from the historian queries, for plot values).
    """
    check_range(start, end)
    if not 0 < max_points <= MAX_RAW_POINTS:
        raise HistoryQueryError(f"max_points must be between 1 and {MAX_RAW_POINTS}, not {max_points}.")
    result: dict[int, list[Point]] = {tag_id: [] for tag_id in tag_ids}
    if not tag_ids:
        return result
    statement = sql.SQL(
        "SELECT s.tag_id, s.time, s.value, s.quality FROM unnest(%s::int4[]) AS t(id) "
        "CROSS JOIN LATERAL (SELECT tag_id, time, value, quality FROM {table} "
        "WHERE tag_id = t.id AND time >= %s AND time < %s ORDER BY time LIMIT %s) AS s "
        "ORDER BY s.tag_id, s.time"
    ).format(table=sql.Identifier(SAMPLE_TABLE))
    with connections[read_alias()].cursor() as cursor:
        cursor.cursor.execute(statement, [list(tag_ids), start, end, max_points + 1])
        for tag_id, time, value, quality in cursor.cursor:
            result[tag_id].append(Point(time, value, quality))
    for tag_id, points in result.items():
        if len(points) > max_points:
            raise HistoryQueryError(
                f"Tag {tag_id} has more than {max_points} samples between {start:%Y-%m-%d %H:%M:%S} and "
                f"{end:%Y-%m-%d %H:%M:%S}; ask for a shorter range."
            )
    return result


class CurrentValues(Mapping[int, CurrentValue]):
    """A snapshot of current values, held as the columns the query returned (one array per column).

    Each `CurrentValue` is built when it is looked up: a 10,000-tag snapshot is then five lists of numbers and
    times and one tag -> position index, instead of 10,000 tuples kept alive at once, which the garbage
    collector would scan, promote and scan again in a full collection (the p95 spikes of the snapshot)."""

    __slots__ = ("_index", "_qualities", "_texts", "_times", "_values")

    def __init__(
        self,
        tag_ids: list[int],
        times: list[datetime],
        values: list[float | None],
        qualities: list[int],
        texts: list[str | None],
    ) -> None:
        self._index = dict(zip(tag_ids, range(len(tag_ids)), strict=True))
        self._times = times
        self._values = values
        self._qualities = qualities
        self._texts = texts

    def __getitem__(self, tag_id: int) -> CurrentValue:
        i = self._index[tag_id]
        text = self._texts[i]
        return CurrentValue(tag_id, self._times[i], self._values[i] if text is None else text, self._qualities[i])

    def __iter__(self) -> Iterator[int]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, tag_id: object) -> bool:
        return tag_id in self._index


def current_values(*, tag_ids: Sequence[int] | None = None) -> CurrentValues:
    """The newest value of each tag (all tags when `tag_ids` is None) from the current-value table; a string
    tag's value is its text."""
    # One row of five arrays, in binary: psycopg decodes each array in C, and no per-row tuple is built. The ids
    # go as one int4[] literal: psycopg would otherwise dump the list element by element in Python (half the
    # time of a 10,000-tag snapshot).
    statement = sql.SQL(
        "SELECT coalesce(array_agg(tag_id), '{{}}'), coalesce(array_agg(time), '{{}}'), "
        "coalesce(array_agg(value), '{{}}'), coalesce(array_agg(quality), '{{}}'), "
        "coalesce(array_agg(text_value), '{{}}') FROM {}"
    ).format(sql.Identifier(CURRENT_VALUE_TABLE))
    with read_cursor() as cursor:
        if tag_ids is None:
            cursor.execute(statement)
        else:
            ids = "{" + ",".join(map(str, map(int, tag_ids))) + "}"
            cursor.execute(statement + sql.SQL(" WHERE tag_id = ANY(%s::int4[])"), [ids])
        row = cursor.fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return CurrentValues(*row)
