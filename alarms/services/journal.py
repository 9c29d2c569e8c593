"""Writing the alarm journal and keeping its monthly partitions (see migration 0002 for the table)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime

from django.db import connection, transaction
from psycopg import sql

from alarms.models import JournalEntry

_known_months: set[date] = set()


def _month(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


def _add_months(month: date, n: int) -> date:
    total = month.year * 12 + month.month - 1 + n
    return date(total // 12, total % 12 + 1, 1)


def journal_partition_ensure(*, months: set[date]) -> list[date]:
    """Create the partitions of these months where missing (per process, each month is asked about once)."""
    created = []
    missing = sorted(months - _known_months)
    if not missing:
        return created
    with transaction.atomic(), connection.cursor() as cursor:
        for month in missing:
            cursor.execute(sql.SQL("SELECT alarms_ensure_journal_partition({})").format(sql.Literal(month)))
            if cursor.fetchone()[0]:
                created.append(month)
    _known_months.update(missing)
    return created


def journal_write(*, entries: Sequence[JournalEntry]) -> int:
    if not entries:
        return 0
    journal_partition_ensure(months={_month(e.time) for e in entries})
    JournalEntry.objects.bulk_create(entries)
    return len(entries)


def journal_partitions_create_ahead(*, now: datetime, months: int = 2) -> list[date]:
    this_month = _month(now)
    _known_months.clear()  # ask the database: a partition may have been dropped by retention
    return journal_partition_ensure(months={_add_months(this_month, n) for n in range(months + 1)})


def journal_retention_apply(*, now: datetime, keep_months: int) -> list[str]:
    """Drop the month partitions entirely older than `keep_months` full months. The only way rows leave."""
    if keep_months < 1:
        raise ValueError("keep_months must be at least 1")
    cutoff = _add_months(_month(now), -keep_months)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT alarms_journal_drop_before({})").format(sql.Literal(cutoff)))
        dropped = [row[0] for row in cursor.fetchall()]
    _known_months.clear()
    return dropped
