"""CSV text of the export queries, line by line, in chunks of bytes (what StreamingHttpResponse sends)."""

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime

from asgiref.sync import sync_to_async

from historian.quality import quality_label
from historian.queries.aggregates import AggregateInterval

RAW_HEADER = ["time", "tag_id", "tag_path", "value", "quality", "quality_label"]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _number(value: float | str | None) -> str:
    """A number as Python spells it exactly (repr); a string tag's text as it is."""
    if value is None:
        return ""
    return value if isinstance(value, str) else repr(value)


class _Lines:
    def __init__(self, header: list[str]) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.writer.writerow(header)

    def take(self) -> bytes:
        """The lines written since the last take (b"" if none)."""
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode()


def raw_csv(chunks: Iterable[list[tuple]], paths: dict[int, str]) -> Iterator[bytes]:
    lines = _Lines(RAW_HEADER)
    labels: dict[int, str] = {}
    for rows in chunks:
        for tag_id, time, value, quality in rows:
            label = labels.get(quality) or labels.setdefault(quality, quality_label(quality))
            lines.writer.writerow((time.isoformat(), tag_id, paths[tag_id], _number(value), quality, label))
        if chunk := lines.take():
            yield chunk
    if chunk := lines.take():
        yield chunk


def aggregate_header(fields: list[str]) -> list[str]:
    header = ["interval_start", "interval_end", "tag_id", "tag_path"]
    for name in fields:
        header += [name, f"{name}_time"] if name in ("first", "last") else [name]
    return header


def aggregate_csv(
    chunks: Iterable[tuple[int, list[AggregateInterval]]], paths: dict[int, str], fields: list[str]
) -> Iterator[bytes]:
    lines = _Lines(aggregate_header(fields))
    for tag_id, intervals in chunks:
        path = paths[tag_id]
        for row in intervals:
            out: list = [row.start.isoformat(), row.end.isoformat(), tag_id, path]
            for name in fields:
                value = getattr(row, name)
                if name in ("first", "last"):
                    out += [_number(value.value), _iso(value.time)] if value is not None else ["", ""]
                else:
                    out.append(_number(value) if not isinstance(value, int) else value)
            lines.writer.writerow(out)
        if chunk := lines.take():
            yield chunk
    if chunk := lines.take():
        yield chunk


async def as_async(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Drive a sync iterator that uses the database from async code, one chunk per call, all in the request's
    thread (thread_sensitive), so that its transaction and named cursor stay on one connection; memory stays
    bounded, unlike StreamingHttpResponse's own fallback, which reads a sync iterator to the end first."""
    done = object()
    try:
        while (chunk := await sync_to_async(next, thread_sensitive=True)(iterator, done)) is not done:
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()
