"""The synchronous driver interface every field protocol (Modbus, OPC UA, MQTT ...) implements.

A poller owns one driver per device connection and calls ``read()`` once per scan. Per-point problems
(bad address, device exception) come back as bad-quality readings; only a link-level failure raises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self


@dataclass(frozen=True, slots=True)
class PointRequest:
    """One tag to read: engineering value = raw * scale + offset."""

    tag_id: int
    address: str
    data_type: str
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class PointReading:
    """The result for one PointRequest; `value` is None whenever `quality` is not good."""

    tag_id: int
    value: float | None
    quality: int


class DeviceUnreachable(Exception):
    """Link-level failure: connect refused or timed out, connection dropped or silent mid-read.

    The driver has closed its connection when this is raised; the next read() reconnects.
    """


class Driver(ABC):
    """A connection to one device; not thread-safe (one poller thread per driver)."""

    @abstractmethod
    def connect(self) -> None:
        """Open the connection; raise DeviceUnreachable on failure."""

    @abstractmethod
    def read(self, points: Sequence[PointRequest]) -> list[PointReading]:
        """Read `points`, connecting first if needed; one reading per point, in order."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; safe to call repeatedly."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while a connection is open."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
