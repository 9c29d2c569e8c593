"""Writing the alarm journal and keeping its monthly partitions (see migration 0002 for the table)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime

from django.db import connection, transaction
from psycopg import sql

from alarms.models import JournalEntry


def _month(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


def _add_months(month: date, n: int) -> date:
    total = month.year * 12 + month.month - 1 + n
    return date(total // 12, total % 12 + 1, 1)


class JournalPartitions:
    """The months whose partition is known to exist, for one writer of the journal (an AlarmEvaluation keeps one,
    so a poll's transitions do not ask again; a one-off write asks once)."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    def ensure(self, months: set[date]) -> list[date]:
        """Create the partitions of these months where missing (each month is asked about once); returns those
        created."""
        created: list[date] = []
        missing = sorted(months - self._known)
        if not missing:
            return created
        with transaction.atomic(), connection.cursor() as cursor:
            for month in missing:
                cursor.execute(sql.SQL("SELECT alarms_ensure_journal_partition({})").format(sql.Literal(month)))
                if cursor.fetchone()[0]:
                    created.append(month)
        self._known.update(missing)
        return created


def journal_write(*, entries: Sequence[JournalEntry], partitions: JournalPartitions | None = None) -> int:
    """Append `entries`; `partitions`: what the writer knows exists (none: the database is asked)."""
    if not entries:
        return 0
    (partitions or JournalPartitions()).ensure({_month(e.time) for e in entries})
    JournalEntry.objects.bulk_create(entries)
    return len(entries)


def journal_partitions_create_ahead(*, now: datetime, months: int = 2) -> list[date]:
    this_month = _month(now)
    # A new JournalPartitions asks the database: a partition may have been dropped by retention.
    return JournalPartitions().ensure({_add_months(this_month, n) for n in range(months + 1)})


def journal_retention_apply(*, now: datetime, keep_months: int) -> list[str]:
    """Drop the month partitions entirely older than `keep_months` full months. The only way rows leave."""
    if keep_months < 1:
        raise ValueError("keep_months must be at least 1")
    cutoff = _add_months(_month(now), -keep_months)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT alarms_journal_drop_before({})").format(sql.Literal(cutoff)))
        dropped = [row[0] for row in cursor.fetchall()]
    return dropped
