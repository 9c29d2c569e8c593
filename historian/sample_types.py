"""The shape of historized values, shared by the writers (services) and readers (queries).

SampleRow is one value; SampleBatch is many as columns (numpy arrays), the form the ingest hot path works in: a
poll of thousands of tags is decoded, filtered, written and pushed without a Python object per value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

if TYPE_CHECKING:  # typing.TypeIs is Python 3.13; only the type checker reads it here
    from typing_extensions import TypeIs

SAMPLE_TABLE = "historian_sample"
CURRENT_VALUE_TABLE = "historian_current_value"
SAMPLE_DEFAULT_PARTITION = "historian_sample_default"
TEXT_SAMPLE_TABLE = "historian_text_sample"

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SampleRow(NamedTuple):
    time: datetime
    tag_id: int
    value: float | None
    quality: int


def datetime_to_us(t: datetime) -> int:
    """Microseconds since the Unix epoch (exact: no float on the way)."""
    return (t - UNIX_EPOCH) // _MICROSECOND


def us_to_datetime(us: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples as columns: `time_us` (int64, microseconds since the Unix epoch), `tag_id` (int32), `value` (float64,
    NaN where the value is None) and `quality` (int16), all of one length."""

    time_us: np.ndarray
    tag_id: np.ndarray
    value: np.ndarray
    quality: np.ndarray

    @classmethod
    def of(cls, time_us, tag_id, value, quality) -> SampleBatch:
        """From array-likes; a scalar time is broadcast to every row."""
        tag_id = np.asarray(tag_id, dtype=np.int32)
        time_us = np.broadcast_to(np.asarray(time_us, dtype=np.int64), tag_id.shape)
        return cls(
            time_us=time_us,
            tag_id=tag_id,
            value=np.asarray(value, dtype=np.float64),
            quality=np.asarray(quality, dtype=np.int16),
        )

    @classmethod
    def empty(cls) -> SampleBatch:
        return cls.of(np.empty(0, np.int64), (), (), ())

    @classmethod
    def from_rows(cls, rows: Iterable[SampleRow]) -> SampleBatch:
        rows = list(rows)
        if not rows:
            return cls.empty()
        times, tags, values, qualities = zip(*rows, strict=True)
        return cls.of(
            [datetime_to_us(t) for t in times],
            tags,
            [np.nan if v is None else v for v in values],
            qualities,
        )

    @classmethod
    def concat(cls, batches: Sequence[SampleBatch]) -> SampleBatch:
        batches = [b for b in batches if len(b)]
        if len(batches) == 1:
            return batches[0]
        if not batches:
            return cls.empty()
        columns = ("time_us", "tag_id", "value", "quality")
        return cls(*(np.concatenate([getattr(b, f) for b in batches]) for f in columns))

    def __len__(self) -> int:
        return len(self.tag_id)

    def take(self, index: np.ndarray) -> SampleBatch:
        """The rows at `index` (positions or a boolean mask)."""
        return SampleBatch(self.time_us[index], self.tag_id[index], self.value[index], self.quality[index])

    def rows(self) -> list[SampleRow]:
        """As SampleRows (value None where NaN): for the paths that are not hot (buffer, alarms, tests)."""
        return [
            SampleRow(us_to_datetime(t), tag, None if v != v else v, q)
            for t, tag, v, q in zip(
                self.time_us.tolist(), self.tag_id.tolist(), self.value.tolist(), self.quality.tolist(), strict=True
            )
        ]

    def oldest(self) -> datetime:
        return us_to_datetime(self.time_us.min())

    def days(self) -> set:
        """The UTC days of the rows."""
        return {us_to_datetime(d * 86_400_000_000).date() for d in np.unique(self.time_us // 86_400_000_000).tolist()}

    def latest_per_tag(self) -> SampleBatch:
        """One row per tag: its newest (the last given, among rows of the same time)."""
        if len(self) < 2:
            return self
        order = np.lexsort((np.arange(len(self)), self.time_us, self.tag_id))
        tags = self.tag_id[order]
        last = np.empty(len(tags), dtype=bool)
        last[-1] = True
        np.not_equal(tags[1:], tags[:-1], out=last[:-1])
        return self.take(order[last])


# PostgreSQL binary formats (COPY and array parameters) built from the columns in a few numpy operations.

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: PostgreSQL's timestamp zero
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"
_ROW = np.dtype([("n", ">i2"), ("lt", ">i4"), ("t", ">i8"), ("lg", ">i4"), ("g", ">i4"), ("lv", ">i4"),
                 ("v", ">f8"), ("lq", ">i4"), ("q", ">i2")])  # fmt: skip
_ROW_NULL = np.dtype([("n", ">i2"), ("lt", ">i4"), ("t", ">i8"), ("lg", ">i4"), ("g", ">i4"), ("lv", ">i4"),
                      ("lq", ">i4"), ("q", ">i2")])  # fmt: skip


def copy_binary_payload(batch: SampleBatch) -> bytes:
    """The whole COPY ... (FORMAT BINARY) stream of (time, tag_id, value, quality) rows, NULL where value is NaN."""
    null = np.isnan(batch.value)
    parts = [_COPY_SIGNATURE]
    for dtype, mask in ((_ROW, ~null), (_ROW_NULL, null)):
        n = int(np.count_nonzero(mask)) if len(batch) else 0
        if not n:
            continue
        out = np.empty(n, dtype=dtype)
        out["n"], out["lt"], out["lg"], out["lq"] = 4, 8, 4, 2
        out["t"] = batch.time_us[mask] - PG_EPOCH_US
        out["g"] = batch.tag_id[mask]
        out["q"] = batch.quality[mask]
        if dtype is _ROW:
            out["lv"] = 8
            out["v"] = batch.value[mask]
        else:
            out["lv"] = -1
        parts.append(out.tobytes())
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


class NumpyArrayLoader(Loader):
    """A one-dimensional binary PostgreSQL array without NULL elements, loaded as a numpy array in a few numpy
    operations (psycopg would build a Python object per element). Register a subclass per element type on one
    cursor's adapters (`numpy_array_loaders`); timestamptz elements stay microseconds since PostgreSQL's epoch
    (add PG_EPOCH_US for Unix microseconds)."""

    format = Format.BINARY
    element: np.dtype = np.dtype(">i8")

    def load(self, data: Buffer) -> np.ndarray:
        ndim, has_null, _oid = struct.unpack_from(">iii", data)
        native = self.element.newbyteorder("=")
        if ndim == 0:
            return np.empty(0, dtype=native)
        if ndim != 1 or has_null:
            raise ValueError("a one-dimensional array without NULL elements was expected")
        (count,) = struct.unpack_from(">i", data, 12)
        items = np.frombuffer(data, dtype=[("len", ">i4"), ("v", self.element)], count=count, offset=20)
        return items["v"].astype(native)


#: The loader of each array type numpy takes as is, by the array type's oid: timestamptz[], float8[], int4[], int2[].
_NUMPY_ARRAY_LOADERS = {
    oid: type(f"NumpyArrayLoader{oid}", (NumpyArrayLoader,), {"element": np.dtype(element)})
    for oid, element in ((1185, ">i8"), (1022, ">f8"), (1007, ">i4"), (1005, ">i2"))
}


def numpy_array_loaders(cursor: Any) -> None:
    """Make `cursor` (binary results) load timestamptz[], float8[], int4[] and int2[] columns as numpy arrays."""
    for oid, loader in _NUMPY_ARRAY_LOADERS.items():
        cursor.adapters.register_loader(oid, loader)


class TextSampleRow(NamedTuple):
    """A sample of a string tag: the same shape as SampleRow, so the live push and alarms take either."""

    time: datetime
    tag_id: int
    value: str | None
    quality: int


def is_text_row(row: SampleRow | TextSampleRow) -> TypeIs[TextSampleRow]:
    return isinstance(row, TextSampleRow)
