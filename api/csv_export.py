"""CSV text of the export queries, in chunks of bytes (what StreamingHttpResponse sends), through common.csv:
values are numbers, never guarded (-5.0 stays -5.0); a string tag's text, typed by no one here but sent by a PLC,
goes through the formula guard like every other text cell, and so does a value's label (typed by an administrator)."""

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from common.csv import csv_async, csv_stream, csv_stream_chunks
from historian.quality import quality_label
from historian.queries.aggregates import AggregateInterval
from maintenance.models import MaintenanceRequest
from production.kpis import Kpis
from production.models import StateInterval

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


# Production performance (issue 13)

INTERVAL_HEADER = [
    "machine_id",
    "machine",
    "start",
    "end",
    "state",
    "product",
    "reason",
    "auto_classified",
    "comment",
    "classified_by",
    "classified_at",
]
KPI_COLUMNS = [
    "planned_operation_time",
    "planned_downtime",
    "planned_busy_time",
    "actual_production_time",
    "produced",
    "good",
    "availability",
    "performance",
    "quality",
    "oee",
    "teep",
    "mtbf",
    "mttr",
    "breakdowns",
    "setup_adjustments",
    "small_stops",
    "reduced_speed",
    "startup_rejects_time",
    "production_rejects_time",
    "unclassified",
    "no_data",
    "micro_stops",
    "failure_events",
    "machines",
]


def intervals_csv(intervals: Iterable[StateInterval]) -> Iterator[bytes]:
    """State intervals, one a row (comments and names are people's text: the formula guard applies)."""
    rows = (
        [
            iv.machine_id,
            iv.machine.name,
            iv.start.isoformat(),
            _iso(iv.end),
            iv.state,
            iv.product.code if iv.product else "",
            str(iv.reason) if iv.reason else "",
            iv.auto_classified,
            iv.comment,
            iv.classified_by.get_username() if iv.classified_by else "",
            _iso(iv.classified_at),
        ]
        for iv in intervals
    )
    return csv_stream(INTERVAL_HEADER, rows, lineterminator="\n", encoding="utf-8")


def kpis_csv(periods: Iterable[tuple[datetime, datetime, str, Kpis]]) -> Iterator[bytes]:
    """KPIs per period: times in seconds, ratios 0..1 (blank when undefined)."""

    def cell(value: object) -> object:
        return "" if value is None else value

    rows = (
        [start.isoformat(), end.isoformat(), label, *(cell(getattr(k, name)) for name in KPI_COLUMNS)]
        for start, end, label, k in periods
    )
    return csv_stream(["start", "end", "period", *KPI_COLUMNS], rows, lineterminator="\n", encoding="utf-8")


MAINTENANCE_REQUEST_HEADER = [
    "id", "machine_id", "machine", "component", "title", "status", "assignee", "planned_for", "created_at",
    "created_by", "by_monitor", "closed_at", "closed_by", "done_note", "explanation",
]  # fmt: skip


def maintenance_requests_csv(requests: Iterable[MaintenanceRequest]) -> Iterator[bytes]:
    """Work requests, one a row (titles, notes and explanations are people's or machines' text: guarded)."""
    rows = (
        [
            r.pk,
            r.machine_id,
            r.machine.name,
            r.component,
            r.title,
            r.status,
            r.assignee.get_username() if r.assignee else "",
            _iso(r.planned_for),
            r.created_at.isoformat(),
            r.created_by.get_username() if r.created_by else "",
            r.by_monitor,
            _iso(r.closed_at),
            r.closed_by.get_username() if r.closed_by else "",
            r.done_note,
            (r.evidence or {}).get("explanation", ""),
        ]
        for r in requests
    )
    return csv_stream(MAINTENANCE_REQUEST_HEADER, rows, lineterminator="\n", encoding="utf-8")
