"""The synchronous driver interface of the polled protocols (Modbus TCP, OPC UA read), and the readings every
protocol produces (PointReading, ReadingBatch).

Two ways values come in, one way they are stored:

* Polling (a Driver): the poller's ``ingest.protocols.registry.DriverRegistry`` keeps one open driver per
  device (re-created when the device's connection settings change). On each scan-class tick the poller
  (``ingest.acquisition.poll.config_poll``) calls ``read_batch()``, then hands the readings to
  ``ingest.pipeline.store.readings_store``. Per-point problems (bad address, device exception) come back as
  bad-quality readings with a human ``reason``; only a link-level failure (the unit behind a gateway
  included) raises DeviceUnreachable, which the poller turns into ``ingest.pipeline.store.device_link_lost``
  (one bad-quality sample per tag, device status, backoff).
* Pushing (OPC UA subscriptions, Sparkplug B): no Driver is involved. The runners in ``ingest.acquisition``
  (``subscriptions.py`` runs each device's ``opcua.driver.OpcUaSubscription``, ``sparkplug_host.py`` the MQTT
  session of ``sparkplug.session``) turn notifications into PointReadings and store them with the same
  ``readings_store`` (deadband / swinging door, stale detection, store-and-forward buffer when PostgreSQL is
  unreachable, live push, alarms); a dropped link goes through ``device_link_lost`` and reconnects with
  ``ingest.pipeline.device_status.reconnect_delay``.

``read_batch()`` returns the readings as columns (ReadingBatch) for the array path of readings_store; a driver
that decodes straight into arrays (Modbus) overrides it, the others inherit the conversion of ``read()``'s list.
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
    of each good reading of a string tag, by tag id (its `values` entry is NaN). `times`, from a driver whose
    values carry the device's own timestamps (OPC UA), holds each reading's timestamp in microseconds since the
    epoch (int64, 0 where the reading has none); None: the readings are all of the scan's time."""

    tag_ids: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    reasons: Mapping[int, str] = field(default_factory=dict)
    texts: Mapping[int, str] = field(default_factory=dict)
    times: np.ndarray | None = None

    @classmethod
    def from_readings(cls, readings: Sequence[PointReading]) -> ReadingBatch:
        """From a list of readings; a text value goes to `texts` (its `values` entry is NaN), never through float()."""
        return cls(
            tag_ids=np.array([r.tag_id for r in readings], dtype=np.int32),
            values=np.array(
                [np.nan if r.value is None or isinstance(r.value, str) else r.value for r in readings],
                dtype=np.float64,
            ),
            qualities=np.array([r.quality for r in readings], dtype=np.int16),
            reasons={r.tag_id: r.reason for r in readings if r.reason},
            texts={r.tag_id: r.value for r in readings if isinstance(r.value, str)},
        )

    def __len__(self) -> int:
        return len(self.tag_ids)

    def take(self, index: np.ndarray) -> ReadingBatch:
        """The readings at `index` (positions or a boolean mask)."""
        times = None if self.times is None else self.times[index]
        return ReadingBatch(
            self.tag_ids[index], self.values[index], self.qualities[index], self.reasons, self.texts, times
        )

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
    #: OPC UA: the endpoints the server offers, each {"url", "mode", "policy", "tokens"}; None: not asked
    endpoints: list[dict[str, str]] | None = None


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
