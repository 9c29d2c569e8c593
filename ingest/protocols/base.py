"""The synchronous driver interface every field protocol (Modbus, OPC UA, MQTT ...) implements.

Two ways values come in, one way they are stored:

* Polling (Modbus): a poller owns one driver per device connection and calls ``read()`` once per scan
  (``ingest.acquisition.poll.device_poll``). Per-point problems (bad address, device exception) come back as
  bad-quality readings with a human ``reason``; only a link-level failure (the unit behind a gateway included)
  raises DeviceUnreachable.
* Subscriptions (OPC UA monitored items, MQTT Sparkplug B): the device pushes values. Such a driver keeps its
  session in a long-running loop; for each notification batch it hands its PointReadings to
  ``ingest.pipeline.store.readings_store(device=..., tags=..., readings=..., read_at=...)``, the same write path
  polling uses (exception/compression per tag, stale detection, store-and-forward buffer when PostgreSQL is
  unreachable, live push). When its link drops it calls ``ingest.pipeline.store.device_link_lost`` (one
  bad-quality sample per tag, device status, backoff delay from ``device_status.reconnect_delay``), reconnects
  with that backoff and re-creates its subscriptions after every reconnect (a restarted server has forgotten
  them); after the first good notification, ``device_status.device_record_success`` marks it connected.
  ``read()`` of a subscription driver may serve the latest values it holds (a read-on-demand).

A poller calls ``read_batch()``, which returns the readings as columns (ReadingBatch) for the array path of
readings_store; a driver that can decode straight into arrays (Modbus) overrides it, the others inherit the
conversion of ``read()``'s list.

Drivers are registered per protocol in ``ingest.protocols.registry``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import numpy as np


@dataclass(frozen=True, slots=True)
class PointRequest:
    """One tag to read: engineering value = raw * scale + offset.

    `word_order` / `byte_order` ("big" or "little"): the tag's override of its device's register order (Modbus);
    None: the device's.
    """

    tag_id: int
    address: str
    data_type: str
    scale: float = 1.0
    offset: float = 0.0
    word_order: str | None = None
    byte_order: str | None = None


@dataclass(frozen=True, slots=True)
class PointReading:
    """The result for one PointRequest; `value` is None whenever `quality` is bad.

    `reason` says why a reading is not good, for people (e.g. "HR100..HR124: Modbus exception 2 ...").
    """

    tag_id: int
    value: float | str | None  # text for string tags
    quality: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Readings of distinct tags as columns: `tag_ids` (int32), `values` (float64, NaN where None) and
    `qualities` (int16); `reasons` holds the reason of each reading that has one, by tag id; `texts` the text
    of each good reading of a string tag, by tag id (its `values` entry is NaN)."""

    tag_ids: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    reasons: Mapping[int, str] = field(default_factory=dict)
    texts: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def from_readings(cls, readings: Sequence[PointReading]) -> ReadingBatch:
        """From numeric readings (string readings go their own way first: ingest.pipeline.store)."""
        return cls(
            tag_ids=np.array([r.tag_id for r in readings], dtype=np.int32),
            values=np.array([np.nan if r.value is None else r.value for r in readings], dtype=np.float64),
            qualities=np.array([r.quality for r in readings], dtype=np.int16),
            reasons={r.tag_id: r.reason for r in readings if r.reason},
        )

    def __len__(self) -> int:
        return len(self.tag_ids)

    def take(self, index: np.ndarray) -> ReadingBatch:
        """The readings at `index` (positions or a boolean mask)."""
        return ReadingBatch(self.tag_ids[index], self.values[index], self.qualities[index], self.reasons, self.texts)

    def readings(self) -> list[PointReading]:
        return [
            PointReading(
                tag_id,
                self.texts.get(tag_id) if value != value else value,
                quality,
                self.reasons.get(tag_id, ""),
            )
            for tag_id, value, quality in zip(
                self.tag_ids.tolist(), self.values.tolist(), self.qualities.tolist(), strict=True
            )
        ]


@dataclass(frozen=True)
class DeviceIdentity:
    """A device's own account of itself: named fields (vendor, product, revision...), its certificate's SHA-256."""

    fields: dict[str, str]
    certificate_thumbprint: str | None = None


class DeviceUnreachable(Exception):
    """Link-level failure: connect refused or timed out, connection dropped or silent mid-read, or a gateway
    answering that the unit behind it is unreachable (Modbus exceptions 0x0A / 0x0B).

    The driver has closed its connection when this is raised (unless the connection, to a gateway, still works);
    the next read() reconnects.
    """


class Driver(ABC):
    """A connection to one device; not thread-safe (one poller thread per driver)."""

    @abstractmethod
    def connect(self) -> None:
        """Open the connection; raise DeviceUnreachable on failure."""

    @abstractmethod
    def read(self, points: Sequence[PointRequest]) -> list[PointReading]:
        """Read `points`, connecting first if needed; one reading per point, in order."""

    def read_batch(self, points: Sequence[PointRequest]) -> ReadingBatch:
        """read() as columns (one reading per point, in order)."""
        return ReadingBatch.from_readings(self.read(points))

    def identify(self) -> DeviceIdentity | None:
        """What the device says it is (for the asset inventory), connecting first if needed.

        None where the protocol or the device cannot say. Raises DeviceUnreachable like a read.
        """
        return None

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
