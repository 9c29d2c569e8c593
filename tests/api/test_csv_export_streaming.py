"""The CSV export streams long ranges in constant memory, under the test client and under the ASGI server."""

import csv
import io
import tracemalloc
import urllib.request
from datetime import timedelta

import pytest
from django.db import connection

from historian.queries.aggregates import aggregate_values
from historian.services.rollups import rollups_refresh
from tests.api.conftest import T0
from tests.samples import bulk_write, history_delete, write

pytestmark = pytest.mark.slow


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _open_export_cursors() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE 'historian_export_%%'")
        return cursor.fetchone()[0]


def test_raw_export_of_millions_of_rows_streams_in_constant_memory(plant, api):
    tag_ids = [plant.temperature.pk, plant.pressure.pk, plant.speed.pk]
    seconds = 1_000_000
    assert bulk_write(tag_ids=tag_ids, start=T0, seconds=seconds) == 3_000_000

    response = api.get(
        "/api/v1/history/export.csv",
        {"tags": ",".join(map(str, tag_ids)), "start": _iso(T0), "end": _iso(T0 + timedelta(seconds=seconds))},
    )
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    head = next(chunks).decode()
    # Streaming, not buffered: the server-side cursor is still open once the first lines have been sent.
    assert _open_export_cursors() == 1
    assert head.startswith("time,tag_id,tag_path,value,quality,quality_label\n2026-03-02T08:00:00+00:00,")

    # Memory is traced over the first 600,000 lines (tracing all would triple the run time): had rows been kept,
    # these alone would hold tens of megabytes.
    tracemalloc.start()
    lines, size, last, peak = head.count("\n"), len(head), b"", None
    try:
        for chunk in chunks:
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk
            if peak is None and lines > 600_000:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
    finally:
        tracemalloc.stop()

    assert lines == 1 + 3_000_000
    assert size > 150_000_000
    # ~180 MB of CSV went through; what was held at once stayed a few chunks.
    assert peak is not None
    assert peak < 8_000_000, f"peak {peak} bytes"
    assert last.decode().splitlines()[-1].startswith(f"{_iso(T0 + timedelta(seconds=seconds - 1))[:-1]}+00:00,")
    assert _open_export_cursors() == 0


def test_an_engineer_pulls_a_year_of_one_minute_averages_of_a_machine_as_csv(plant, api):
    start = T0.replace(hour=0) - timedelta(days=365)
    end = start + timedelta(days=365)
    write(plant.temperature, [(start + timedelta(days=d, seconds=30), float(d)) for d in range(0, 365, 7)])
    write(plant.pressure, [(start + timedelta(hours=h), h % 10) for h in range(0, 365 * 24, 12)])
    rollups_refresh()  # as beat does: the samples were written behind the rollups' watermark

    response = api.get(
        "/api/v1/history/export.csv",
        {
            "machine": plant.press.pk,
            "start": _iso(start),
            "end": _iso(end),
            "kind": "aggregates",
            "interval": "1m",
            "fields": "avg,count",
        },
    )

    assert response.status_code == 200
    rows = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert next(rows) == ["interval_start", "interval_end", "tag_id", "tag_path", "avg", "count"]
    by_tag: dict[str, list[list[str]]] = {}
    for row in rows:
        by_tag.setdefault(row[2], []).append(row)
    minutes = 365 * 24 * 60
    assert {tag: len(r) for tag, r in by_tag.items()} == {
        str(plant.temperature.pk): minutes,
        str(plant.pressure.pk): minutes,
        str(plant.speed.pk): minutes,
    }
    # Any day of the file is what the aggregates query says for it.
    day = start + timedelta(days=100)
    expected = aggregate_values(
        tag_ids=[plant.pressure.pk], start=day, end=day + timedelta(days=1), interval=timedelta(minutes=1)
    ).series[plant.pressure.pk]
    offset = 100 * 24 * 60
    got = by_tag[str(plant.pressure.pk)][offset : offset + len(expected)]
    assert [r[0] for r in got] == [i.start.isoformat() for i in expected]
    assert [r[4] for r in got] == ["" if i.avg is None else repr(i.avg) for i in expected]
    assert [r[5] for r in got] == [str(i.count) for i in expected]
    assert sum(int(r[5]) for r in by_tag[str(plant.pressure.pk)]) == 365 * 2


def test_export_streams_through_the_asgi_server(live_asgi, plant, token):
    tag_ids = [plant.temperature.pk, plant.oven_temperature.pk]
    try:
        bulk_write(tag_ids=tag_ids, start=T0, seconds=50_000)
        url = (
            f"{live_asgi.url}/api/v1/history/export.csv?tags={tag_ids[0]},{tag_ids[1]}"
            f"&start={_iso(T0)}&end={_iso(T0 + timedelta(days=2))}"
        )
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["Content-Type"].startswith("text/csv")
            # Sent as it is produced (an async iterator: Django's fallback for a sync one would read it all first,
            # and warn, which this suite turns into an error).
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert response.headers["Content-Length"] is None
            lines = response.read().decode().splitlines()
        assert len(lines) == 1 + 100_000
        assert lines[-1].split(",")[1] == str(tag_ids[1])
    finally:
        history_delete(tag_ids=tag_ids)
