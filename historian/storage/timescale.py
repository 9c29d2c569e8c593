from collections.abc import Iterable
from datetime import date, datetime

from .base import SampleStorage


class TimescaleStorage(SampleStorage):
    """A hypertable: TimescaleDB creates chunks on insert, so there is nothing to prepare ahead."""

    name = "timescaledb"

    def prepare_days(self, cursor, days: Iterable[date]) -> None:
        return None

    def create_ahead(self, cursor, *, start: datetime, days: int) -> list[str]:
        return []
