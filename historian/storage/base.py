from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import date, datetime


class SampleStorage(ABC):
    """What differs between the TimescaleDB and the plain PostgreSQL layout of `historian_sample`."""

    name: str

    @abstractmethod
    def prepare_days(self, cursor, days: Iterable[date]) -> None:
        """Make sure rows of these (UTC) days go to their final place, before they are written."""

    @abstractmethod
    def create_ahead(self, cursor, *, start: datetime, days: int) -> list[str]:
        """Create storage for the coming days; returns the names of what was created."""
