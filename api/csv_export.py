"""CSV text of the export queries, in chunks of bytes (what StreamingHttpResponse sends), through common.csv:
values are numbers, never guarded (-5.0 stays -5.0); a string tag's text, typed by no one here but sent by a PLC,
goes through the formula guard like every other text cell, and so does a value's label (typed by an administrator)."""

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from common.csv import csv_async, csv_stream_chunks
from historian.quality import quality_label
from historian.queries.aggregates import AggregateInterval

RAW_HEADER = ["time", "tag_id", "tag_path", "value", "value_label", "quality", "quality_label"]

# Driving the sync stream from async code (ASGI): see common.csv.csv_async.
as_async = csv_async


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _value_label(value_labels: dict[int, str] | None, value: float | str | None) -> str:
    """The label of a whole number in the tag's set; "" where the tag has no set, or the set no such value."""
    if not value_labels or not isinstance(value, int | float) or not math.isfinite(value) or value != int(value):
        return ""
    return value_labels.get(int(value), "")


def raw_csv(
    chunks: Iterable[list[tuple]], paths: dict[int, str], value_labels: dict[int, dict[int, str]] | None = None
) -> Iterator[bytes]:
    """`value_labels`: per tag id that has a value label set, its labels by value (the value_label column)."""
    value_labels = value_labels or {}
    labels: dict[int, str] = {}

    def label(quality: int) -> str:
        return labels.get(quality) or labels.setdefault(quality, quality_label(quality))

    rows = (
        [
            [
                time.isoformat(),
                tag_id,
                paths[tag_id],
                value,
                _value_label(value_labels.get(tag_id), value),
                quality,
                label(quality),
            ]
            for tag_id, time, value, quality in chunk
        ]
        for chunk in chunks
    )
    return csv_stream_chunks(RAW_HEADER, rows, lineterminator="\n", encoding="utf-8")


def aggregate_header(fields: list[str]) -> list[str]:
    header = ["interval_start", "interval_end", "tag_id", "tag_path"]
    for name in fields:
        header += [name, f"{name}_time"] if name in ("first", "last") else [name]
    return header


def aggregate_csv(
    chunks: Iterable[tuple[int, list[AggregateInterval]]], paths: dict[int, str], fields: list[str]
) -> Iterator[bytes]:
    def rows(tag_id: int, intervals: list[AggregateInterval]) -> Iterator[list]:
        path = paths[tag_id]
        for row in intervals:
            out: list = [row.start.isoformat(), row.end.isoformat(), tag_id, path]
            for name in fields:
                value = getattr(row, name)
                if name in ("first", "last"):
                    out += [value.value, _iso(value.time)] if value is not None else ["", ""]
                else:
                    out.append(value)
            yield out

    return csv_stream_chunks(
        aggregate_header(fields),
        (rows(tag_id, intervals) for tag_id, intervals in chunks),
        lineterminator="\n",
        encoding="utf-8",
    )
