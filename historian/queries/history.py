"""Reading samples back: raw history of a few tags and the current value of many."""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from psycopg import sql

from historian.sample_types import CURRENT_VALUE_TABLE, SAMPLE_TABLE

from .common import MAX_RAW_POINTS, Point, check_range, read_cursor
from .errors import HistoryQueryError

__all__ = ["CurrentValue", "Point", "current_values", "tag_history"]


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
    with connection.cursor() as cursor:
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


def current_values(*, tag_ids: Sequence[int] | None = None) -> dict[int, CurrentValue]:
    """The newest value of each tag (all tags when `tag_ids` is None) from the current-value table; a string
    tag's value is its text."""
    table = sql.Identifier(CURRENT_VALUE_TABLE)
    columns = sql.SQL("tag_id, time, value, quality, text_value")
    # Binary results and a bound id array: a 10,000-tag snapshot in a fraction of the text protocol's time.
    with read_cursor() as cursor:
        if tag_ids is None:
            cursor.execute(sql.SQL("SELECT {} FROM {}").format(columns, table))
        else:
            cursor.execute(
                sql.SQL("SELECT {} FROM {} WHERE tag_id = ANY(%s::int4[])").format(columns, table),
                [list(tag_ids)],
            )
        return {
            tag_id: CurrentValue(tag_id, time, value if text is None else text, quality)
            for tag_id, time, value, quality, text in cursor
        }
