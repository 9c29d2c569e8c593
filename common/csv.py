"""The one CSV writer every export uses: cells a spreadsheet would run as a formula are neutralised, and the
text is produced chunk by chunk so that a StreamingHttpResponse sends it in constant memory.

The formula guard (OWASP "CSV injection"): a text cell starting with ``= + - @``, a tab or a carriage return is
prefixed with a single quote, which spreadsheets show as text instead of evaluating. What is typed by people or
sent by PLCs (a failed login's user name, a string tag's value, a comment, a description) can hold
``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0``; opening the export must not run it.

Numbers are written as numbers and never guarded: ``-5.0`` in a value column stays ``-5.0`` (a number in a
spreadsheet is not a formula). Callers pass numeric cells as ``int``/``float``, text as ``str``; the type, not the
look of the text, decides.

The guard is reversible, so that an import of our own export (the tag CSV) reads back exactly what was exported:
a text that already starts with quotes followed by a formula character gets one more quote too, and
``csv_unguard`` removes exactly one quote from a cell that starts with one or more quotes followed by one of
``= + - @ \\t \\r``. Any other cell is read as it is.
"""

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, overload

from asgiref.sync import sync_to_async

FORMULA_STARTS = frozenset("=+-@\t\r")
GUARD = "'"
_PLAIN = frozenset({int, float})
_MAY_NEED_GUARD = FORMULA_STARTS | {GUARD}

#: Rows per chunk when the caller does not chunk its rows itself: large enough that a chunk is a few kB.
CHUNK_ROWS = 500

Progress = Callable[[int], None]


def _guarded(text: str) -> bool:
    """Whether `text` starts with zero or more quotes and then a formula character."""
    return text.lstrip(GUARD)[:1] in FORMULA_STARTS


def csv_guard(text: str) -> str:
    """`text` as a cell no spreadsheet evaluates (one quote in front when it needs one); see csv_unguard."""
    return GUARD + text if _guarded(text) else text


def csv_unguard(text: str) -> str:
    """The inverse of csv_guard: one leading quote removed when quotes and then a formula character start the
    cell (``'=SUM(A1)`` -> ``=SUM(A1)``, ``''=x`` -> ``'=x``); any other cell unchanged (``'abc`` stays)."""
    return text[1:] if text[:1] == GUARD and _guarded(text) else text


def csv_cell(value: Any) -> Any:
    """One cell: numbers as they are, None as empty, anything else as guarded text."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    return csv_guard(value if isinstance(value, str) else str(value))


class CsvWriter:
    """Rows to CSV text, every cell through csv_cell."""

    def __init__(self, *, lineterminator: str = "\r\n") -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator=lineterminator)

    def rows(self, rows: Iterable[Iterable[Any]]) -> str:
        """The CSV text of `rows`."""
        writerow = self._writer.writerow
        for row in rows:
            # csv_cell, inlined for the common cells (numbers, text that needs nothing): exports run to millions
            # of rows, and a call per cell doubled the cost of a row.
            writerow(
                [
                    cell
                    if type(cell) in _PLAIN or (type(cell) is str and cell[:1] not in _MAY_NEED_GUARD)
                    else csv_cell(cell)
                    for cell in row
                ]
            )
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def row(self, row: Iterable[Any]) -> str:
        return self.rows([row])


# Text without an `encoding`, bytes with one: the overloads say so to the callers' type checker.
@overload
def csv_stream_chunks(
    header: Iterable[str],
    chunks: Iterable[Iterable[Iterable[Any]]],
    *,
    lineterminator: str = ...,
    encoding: None = None,
    progress: Progress | None = ...,
) -> Iterator[str]: ...
@overload
def csv_stream_chunks(
    header: Iterable[str],
    chunks: Iterable[Iterable[Iterable[Any]]],
    *,
    lineterminator: str = ...,
    encoding: str,
    progress: Progress | None = ...,
) -> Iterator[bytes]: ...
def csv_stream_chunks(
    header: Iterable[str],
    chunks: Iterable[Iterable[Iterable[Any]]],
    *,
    lineterminator: str = "\r\n",
    encoding: str | None = None,
    progress: Progress | None = None,
) -> Iterator[str] | Iterator[bytes]:
    """One piece of CSV text per chunk of rows, the header in front of the first (a chunk with no rows yields
    nothing; no rows at all yield the header alone).

    `encoding`: yield bytes in that encoding instead of text. `progress(rows_so_far)` after each chunk, for
    exports that report how far they are.
    """
    writer = CsvWriter(lineterminator=lineterminator)
    encode: Callable[[str], Any] = (lambda text: text.encode(encoding)) if encoding else (lambda text: text)

    def pieces() -> Iterator[Any]:
        head = writer.row(header)  # sent with the first rows, or alone when there are none
        written = 0
        for chunk in chunks:
            rows = list(chunk)
            if not rows:
                continue
            written += len(rows)
            yield encode(head + writer.rows(rows))
            head = ""
            if progress is not None:
                progress(written)
        if head:
            yield encode(head)

    return pieces()


@overload
def csv_stream(
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    chunk_rows: int = ...,
    lineterminator: str = ...,
    encoding: None = None,
    progress: Progress | None = ...,
) -> Iterator[str]: ...
@overload
def csv_stream(
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    chunk_rows: int = ...,
    lineterminator: str = ...,
    encoding: str,
    progress: Progress | None = ...,
) -> Iterator[bytes]: ...
def csv_stream(
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    chunk_rows: int = CHUNK_ROWS,
    lineterminator: str = "\r\n",
    encoding: str | None = None,
    progress: Progress | None = None,
) -> Iterator[str] | Iterator[bytes]:
    """csv_stream_chunks for a flat iterable of rows, `chunk_rows` rows a piece."""
    chunks = _chunked(rows, chunk_rows)
    if encoding:
        return csv_stream_chunks(header, chunks, lineterminator=lineterminator, encoding=encoding, progress=progress)
    return csv_stream_chunks(header, chunks, lineterminator=lineterminator, progress=progress)


def _chunked(rows: Iterable[Iterable[Any]], size: int) -> Iterator[list[Iterable[Any]]]:
    chunk: list[Iterable[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def csv_async(iterator: Iterator[Any]) -> AsyncIterator[Any]:
    """A sync CSV stream that reads the database, as an async iterator for an ASGI StreamingHttpResponse.

    One piece per call, all in the request's thread (thread_sensitive), so that its transaction and any named
    cursor stay on one connection; memory stays bounded, unlike StreamingHttpResponse's own fallback, which reads
    a sync iterator to the end first.
    """
    done = object()

    def step() -> Any:
        return next(iterator, done)

    try:
        while (piece := await sync_to_async(step, thread_sensitive=True)()) is not done:
            yield piece
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()
