"""common/csv.py: the formula guard every export uses, its inverse for imports, and the chunked stream."""

import asyncio
import csv
import io
import itertools
from decimal import Decimal

import pytest

from common.csv import csv_async, csv_cell, csv_guard, csv_stream, csv_stream_chunks, csv_unguard


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_text_a_spreadsheet_would_run_gets_a_quote(text):
    assert csv_guard(text) == "'" + text


@pytest.mark.parametrize("text", ["", "abc", "1-2", "'abc", "'", "''", " =x", '{"a": 1}', "Ä=b"])
def test_other_text_is_left_alone(text):
    assert csv_guard(text) == text
    assert csv_unguard(text) == text


def test_unguard_undoes_guard_for_every_short_text_over_the_interesting_characters():
    alphabet = ["'", "=", "+", "-", "@", "\t", "\r", "a", "1", " "]
    texts = ["".join(p) for n in range(5) for p in itertools.product(alphabet, repeat=n)]
    for text in texts:
        assert csv_unguard(csv_guard(text)) == text, repr(text)
    assert len({csv_guard(t) for t in texts}) == len(texts)  # no two texts share a guarded form


def test_numbers_are_cells_as_they_are_and_none_is_empty():
    assert [csv_cell(v) for v in (-5.0, -3, Decimal("-1.5"), None, True, "-5.0")] == [
        -5.0,
        -3,
        Decimal("-1.5"),
        "",
        "True",
        "'-5.0",  # text is text, whatever it looks like
    ]


def test_a_stream_is_one_piece_per_chunk_with_the_header_in_front_and_reads_back():
    pieces = list(csv_stream_chunks(["name", "value"], [[["=x", -5.0]], [], [["b", 2]]]))
    assert pieces == ["name,value\r\n'=x,-5.0\r\n", "b,2\r\n"]
    assert list(csv.reader(io.StringIO("".join(pieces), newline=""))) == [
        ["name", "value"],
        ["'=x", "-5.0"],
        ["b", "2"],
    ]


def test_an_empty_stream_is_the_header_alone_and_bytes_when_asked():
    assert list(csv_stream(["a"], [], encoding="utf-8", lineterminator="\n")) == [b"a\n"]


def test_progress_counts_the_rows_written():
    seen: list[int] = []
    list(csv_stream(["n"], ([i] for i in range(5)), chunk_rows=2, progress=seen.append))
    assert seen == [2, 4, 5]


def test_the_async_form_yields_the_same_pieces_and_closes_the_source():
    closed = []

    def rows():
        try:
            yield from ([i] for i in range(3))
        finally:
            closed.append(True)

    async def collect() -> list[str]:
        return [piece async for piece in csv_async(csv_stream(["n"], rows(), chunk_rows=1))]

    assert asyncio.run(collect()) == ["n\r\n0\r\n", "1\r\n", "2\r\n"]
    assert closed == [True]
