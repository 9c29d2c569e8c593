"""Writing samples of string tags: their own narrow table, and the text column of the current values.

String tags are few and stored on change, so this path favours simplicity over the numeric path's binary COPY:
one INSERT ... ON CONFLICT DO NOTHING from bound arrays (idempotent, so a retried poll or a replay of the
store-and-forward buffer stores each (tag, time) once), and one upsert of the current values, in one transaction.
"""

from collections.abc import Iterable, Sequence

import psycopg
from django.db import connection, transaction
from psycopg import sql

from historian.sample_types import CURRENT_VALUE_TABLE, TEXT_SAMPLE_TABLE, TextSampleRow

from .samples import _statement_timeout

_SOURCE = sql.SQL("unnest(%b::int4[], %b::timestamptz[], %b::text[], %b::int2[]) AS u(tag_id, time, value, quality)")


def text_samples_write_batch(
    *,
    rows: Sequence[TextSampleRow],
    current_only: Sequence[TextSampleRow] = (),
    current_values: bool = True,
    statement_timeout_ms: int | None = None,
) -> int:
    """Store `rows` in the text history and bring the current values of their tags (and of `current_only`) up to
    date, in one transaction; rows already stored are skipped. Returns the rows given for history."""
    if not rows and not (current_values and current_only):
        return 0
    with transaction.atomic():
        _statement_timeout(None, statement_timeout_ms)
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as raw:
            if rows:
                raw.execute(
                    sql.SQL(
                        "INSERT INTO {table} (tag_id, time, value, quality) "
                        "SELECT u.tag_id, u.time, u.value, u.quality FROM {source} "
                        "ON CONFLICT (tag_id, time) DO NOTHING"
                    ).format(table=sql.Identifier(TEXT_SAMPLE_TABLE), source=_SOURCE),
                    _params(rows),
                )
            if current_values:
                _current_write(raw, [*rows, *current_only])
    return len(rows)


def _params(rows: Iterable[TextSampleRow]) -> list[list]:
    rows = list(rows)
    return [[r.tag_id for r in rows], [r.time for r in rows], [r.value for r in rows], [int(r.quality) for r in rows]]


def _current_write(raw: psycopg.Cursor, rows: Iterable[TextSampleRow]) -> None:
    """The newest text per tag; an older row (late, replayed) never overwrites a newer one."""
    latest: dict[int, TextSampleRow] = {}
    for row in rows:
        seen = latest.get(row.tag_id)
        if seen is None or row.time >= seen.time:
            latest[row.tag_id] = row
    if not latest:
        return
    raw.execute(
        sql.SQL(
            "INSERT INTO {table} AS cv (tag_id, time, value, text_value, quality) "
            "SELECT u.tag_id, u.time, NULL, u.value, u.quality FROM {source} "
            "ON CONFLICT (tag_id) DO UPDATE SET time = excluded.time, value = NULL, text_value = excluded.text_value, "
            "quality = excluded.quality WHERE excluded.time >= cv.time"
        ).format(table=sql.Identifier(CURRENT_VALUE_TABLE), source=_SOURCE),
        _params(latest.values()),
    )
