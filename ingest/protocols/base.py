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

Writing (issue 14): ``Driver.write(point, value, timeout=...)`` writes one engineering value and reads it back,
returning a WriteOutcome: confirmed (the device holds what was asked), mismatched (it answered, but holds something
else: clamped, rejected by its logic), or failed (refused before sending, a device exception, a dropped link, no
read-back within the timeout). A driver never raises for a write: the outcome says what happened, for the policy,
audit and UI above it, which decide whether a write may happen at all (this layer only checks that the value fits
the tag's type and that the address can be written). ``raw_from_engineering`` is the shared inverse of
``raw * scale + offset`` with the type's range and integrality checks. Sparkplug B has no Driver: its write is a
command published by the host runner (``ingest.acquisition.sparkplug_host.SparkplugRunner.command``), confirmed by
the value coming back in a data message, and returns the same WriteOutcome.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
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


WriteValue = float | int | bool | str


class WriteStatus(StrEnum):
    CONFIRMED = "confirmed"  # read back equal to what was written
    MISMATCHED = "mismatched"  # written (or sent) and read back, but the device holds another value
    FAILED = "failed"  # refused before sending, refused by the device, link lost, or no read-back in time


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of one write.

    `requested`: the engineering value asked for; `written`: what went on the wire in the device's terms (the raw
    value after inverse scaling and type conversion, e.g. 1500 for 150.0 with scale 0.1; None when nothing was
    sent); `read_back`: the engineering value read back (None when none was read), `read_back_raw` the raw one.
    `sent`: whether a write request left this host at all (False: refused here, the device was not touched).
    `error`: for people, why it failed or what mismatched. `seconds`: from the start of the write to the end of
    the read-back (or the failure).
    """

    status: WriteStatus
    requested: WriteValue
    written: WriteValue | None = None
    read_back: WriteValue | None = None
    read_back_raw: WriteValue | None = None
    sent: bool = False
    error: str = ""
    seconds: float = 0.0

    @property
    def confirmed(self) -> bool:
        return self.status == WriteStatus.CONFIRMED


class WriteRefused(ValueError):
    """A value that cannot be written to a point (wrong type, out of the type's range, needs rounding, read-only
    address); raised before anything is sent, turned into a failed WriteOutcome with sent=False by the drivers."""


#: The raw range of each integer data type.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38


def raw_from_engineering(point: PointRequest, value: WriteValue) -> WriteValue:
    """The raw value to write for engineering `value`: (value - offset) / scale in the point's data type.

    Raises WriteRefused with a readable message when the value is of the wrong kind (text for a number, a number
    for a text, anything but 0/1/true/false for a bool), not finite, would need rounding to fit an integer type
    (the nearest writable engineering values are named), or falls outside the type's range. Bools and strings are
    never scaled.
    """
    data_type = point.data_type
    if data_type == "string":
        if not isinstance(value, str):
            raise WriteRefused(f"{point.address}: a string tag takes text, not {type(value).__name__} {value!r}")
        return value
    if data_type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise WriteRefused(f"{point.address}: a bool tag takes true/false or 1/0, not {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WriteRefused(f"{point.address}: a {data_type} tag takes a number, not {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise WriteRefused(f"{point.address}: {value} is not a finite number")
    if point.scale == 0:
        raise WriteRefused(f"{point.address}: the tag's scale is 0, so no raw value gives {value}")
    raw = (value - point.offset) / point.scale
    if data_type in ("float32", "float64"):
        if data_type == "float32" and abs(raw) > _FLOAT32_MAX:
            raise WriteRefused(f"{point.address}: raw {raw:g} is beyond the float32 range (±{_FLOAT32_MAX:.4g})")
        return float(raw)
    low, high = INTEGER_RANGES[data_type]
    nearest = round(raw)
    if abs(raw - nearest) > 1e-9 * max(1.0, abs(raw)):
        below, above = math.floor(raw), math.ceil(raw)
        raise WriteRefused(
            f"{point.address}: {value} is not writable exactly to a {data_type} with scale {point.scale:g} and "
            f"offset {point.offset:g} (raw {raw:g} would be rounded); the nearest writable values are "
            f"{below * point.scale + point.offset:g} and {above * point.scale + point.offset:g}"
        )
    if not low <= nearest <= high:
        first, last = sorted((low * point.scale + point.offset, high * point.scale + point.offset))
        raise WriteRefused(
            f"{point.address}: {value} is out of range for a {data_type} (raw {nearest} outside {low}..{high}; "
            f"writable {first:g}..{last:g})"
        )
    return int(nearest)


def engineering_from_raw(point: PointRequest, raw: WriteValue) -> WriteValue:
    """raw * scale + offset for numbers; bools and strings as they are."""
    if isinstance(raw, bool | str):
        return raw
    return raw * point.scale + point.offset


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

    def write(self, point: PointRequest, value: WriteValue, *, timeout: float = 5.0) -> WriteOutcome:
        """Write engineering `value` to `point` and read it back within `timeout` seconds; never raises.

        Connects first if needed. The default: this protocol cannot write (a failed outcome, nothing sent).
        """
        return WriteOutcome(WriteStatus.FAILED, value, error=f"{type(self).__name__} cannot write")

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
