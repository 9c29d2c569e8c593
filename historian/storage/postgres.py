from collections.abc import Iterable
from datetime import date, datetime, timedelta

from psycopg import sql

from .base import SampleStorage


class PartitionedPostgresStorage(SampleStorage):
    """Daily range partitions of `historian_sample`, created by `historian_ensure_sample_partition(day)`.

    That SQL function (see migration 0002) takes an advisory lock, so concurrent workers can ask for the same day;
    rows that landed in the default partition before their day existed are moved into it.
    """

    name = "postgres"

    def __init__(self) -> None:
        # Days known to have a partition, per process: a poll batch costs no extra round trip once its day exists.
        self._known_days: set[date] = set()

    def prepare_days(self, cursor, days: Iterable[date]) -> None:
        missing = sorted(set(days) - self._known_days)
        for day in missing:
            cursor.execute(sql.SQL("SELECT historian_ensure_sample_partition({})").format(sql.Literal(day)))
            self._known_days.add(day)

    def create_ahead(self, cursor, *, start: datetime, days: int) -> list[str]:
        created = []
        first = start.date()
        for n in range(days + 1):
            day = first + timedelta(days=n)
            cursor.execute("SELECT to_regclass(%s) IS NULL", [f"historian_sample_p{day:%Y%m%d}"])
            if cursor.fetchone()[0]:
                created.append(f"historian_sample_p{day:%Y%m%d}")
            cursor.execute(sql.SQL("SELECT historian_ensure_sample_partition({})").format(sql.Literal(day)))
            self._known_days.add(day)
        return created
