"""Query benchmark: what the history reads cost next to the naive SQL a developer would write for the same answer.

    python -m bench.query [--days 365] [--fast-tags 2] [--wide-tags 10000] [--wide-hours 6] [--repeats 10]
                          [--load-workers 2]
    make bench QUERY_BENCH_ARGS="--days 30"   # after bench.ingest, on the embedded PostgreSQL of the `bench` profile

Runs in a database of its own (`millwright_bench_query` by default), set up like bench.ingest (fresh, migrated,
dropped at the end unless --keep-database). Loads, server-side: --days of 1 s samples for --fast-tags tags (a
sine with noise, a rare spike, a rare bad sample) and --wide-hours of 60 s samples for --wide-tags tags, all ending
at the current minute (a day or an hour per statement, --load-workers sessions at once: one per core), and their
current values; then the 1-minute and 1-hour rollups (plain PostgreSQL: each
chunk's INSERT and the upsert of its 1m rollup rows are one statement, the rollup computed by the project's own
rollup SQL from the INSERT's RETURNING rows, so the samples are never read back; then the 1h rollups from the 1m
ones in one statement, the watermarks set at the end of the load, and the project's `rollups_refresh` for whatever
follows; TimescaleDB: refresh_continuous_aggregate). Each plot's answer is checked against the raw rows, so rollups
that differed from what the refresh computes would show.
Progress goes to stderr. Then, each timed --repeats times after one warm-up call:

  plot_{1h,1d,30d,365d}  plot_values of one 1 s tag at 1,500 px over the last hour .. year, against a naive
                         date_bin over the raw rows (first/min/max/last per pixel bucket; --naive-repeats times,
                         since over a year it scans every sample). Each answer is checked: same overall min and max.
  raw_100k               raw_values of 100,000 samples of one 1 s tag, against the same SELECT through Django's
                         cursor (text protocol), i.e. what `tag_history` does.
  snapshot               current_values of the --wide-tags tags, each value read once, against the newest sample
                         of each from history (one index probe per tag, no current-value table); same values.

Ratios are cost ratios: ratio_x_to_naive = p50(x) / p50(naive), so < 1 means the project's query is faster.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TextIO

from bench.common import (
    arguments_at_least_one,
    bench_django_setup,
    bench_run,
    database_arguments,
    execute,
    progress,
    server_info,
    tags_create,
    timed,
)

DEFAULT_DATABASE_NAME = "millwright_bench_query"
PIXELS = 1500
RAW_POINTS = 100_000
PLOT_RANGES = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "30d": timedelta(days=30),
    "365d": timedelta(days=365),
}

_FAST_DAY = """
INSERT INTO historian_sample (time, tag_id, value, quality)
SELECT t, tag, 50 + 40 * sin(extract(epoch FROM t) / 3600.0 + tag) + 5 * random()
              + CASE WHEN random() < 0.00002 THEN 400 ELSE 0 END,
       CASE WHEN random() < 0.0001 THEN 24 ELSE 192 END
FROM unnest(%s::int4[]) AS tag
CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz - interval '1 microsecond', %s::interval) AS t
"""
_CURRENT_VALUES = """
INSERT INTO historian_current_value (tag_id, time, value, quality)
SELECT t.id, s.time, s.value, s.quality FROM unnest(%s::int4[]) AS t(id)
CROSS JOIN LATERAL (SELECT time, value, quality FROM historian_sample WHERE tag_id = t.id
                    ORDER BY time DESC LIMIT 1) AS s
"""
_NAIVE_PLOT = """
SELECT date_bin(%s::interval, time, %s::timestamptz) AS pixel,
       (array_agg(value ORDER BY time))[1], min(value), max(value), (array_agg(value ORDER BY time DESC))[1]
FROM historian_sample
WHERE tag_id = %s AND time >= %s AND time < %s AND (quality & 192) = 192
GROUP BY 1 ORDER BY 1
"""
_NAIVE_RAW = (
    "SELECT time, value, quality FROM historian_sample WHERE tag_id = %s AND time >= %s AND time < %s ORDER BY time"
)
_NAIVE_SNAPSHOT = _CURRENT_VALUES.split("\n", 2)[2]  # the SELECT part


# ----------------------------------------------------------------------------------------------------
# Data


def _insert_and_roll(cursor, params: list, *, roll: bool, expected: int) -> int:
    """One chunk of generated samples; with `roll`, its 1m rollup rows in the same statement, computed from the
    INSERT's RETURNING rows by the project's own rollup SQL (nothing read back from the table). The chunk holds whole
    minutes, so each of its 1m buckets is complete. Returns the samples inserted."""
    from psycopg import sql

    from historian.storage.postgres import rollup_1m_upsert

    if not roll:
        cursor.execute(_FAST_DAY, params)
        return cursor.rowcount
    statement = (
        sql.SQL("WITH ins AS (")
        + sql.SQL(_FAST_DAY.strip())
        + sql.SQL(" RETURNING time, tag_id, value, quality) ")
        + rollup_1m_upsert(sql.SQL("ins AS s"))
    )
    cursor.cursor.execute(statement, params)
    return expected


def _load(fast: Sequence[int], wide: Sequence[int], *, end: datetime, days: int, wide_hours: int, workers: int) -> int:
    """Generate the samples; on plain PostgreSQL also their 1m rollups, chunk by chunk as they are inserted (the
    rollup state is then set by `_rollups_build`). Chunks (a day of the fast tags, an hour of the wide ones) go to
    `workers` sessions at once: generating rows is the server's CPU, one core per session, and no two chunks share
    a partition day's rollup bucket or a sample. Each chunk sets its own random seed: the data do not depend on
    which session ran it."""
    from django.db import connection, transaction

    from historian.storage import sample_storage

    start = end - timedelta(days=days)
    storage = sample_storage()
    roll = storage.maintains_rollups
    day_count = (end.date() - start.date()).days + 1
    with transaction.atomic(), connection.cursor() as cursor:
        storage.prepare_days(cursor, [start.date() + timedelta(days=n) for n in range(day_count)])
    chunks: list[tuple[Sequence[int], datetime, datetime, timedelta]] = []
    day = start
    while day < end:
        chunks.append((fast, day, min(day + timedelta(days=1), end), timedelta(seconds=1)))
        day += timedelta(days=1)
    hour = end - timedelta(hours=wide_hours)
    while hour < end:
        chunks.append((wide, hour, hour + timedelta(hours=1), timedelta(seconds=60)))
        hour += timedelta(hours=1)

    def loading(number: int) -> int:
        tags, first, until, step = chunks[number]
        expected = len(tags) * int((until - first) / step)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT setseed(%s)", [(number % 1000) / 1000])
                return _insert_and_roll(cursor, [list(tags), first, until, step], roll=roll, expected=expected)
        finally:
            connection.close()  # this thread's own connection

    rows = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-load") as pool:
        for done, count in enumerate(pool.map(loading, range(len(chunks))), start=1):
            rows += count
            if done % 30 == 0 or done == len(chunks):
                progress(f"  loaded {done} of {len(chunks)} chunks ({rows:,} rows)")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CURRENT_VALUES, [list(fast) + list(wide)])
    progress(f"  {rows / (time.perf_counter() - started):,.0f} rows/s; vacuum analyze ...")
    # Index-only scans need the visibility map that VACUUM builds (autovacuum would, later).
    execute("VACUUM (ANALYZE) historian_sample")
    execute("VACUUM (ANALYZE) historian_current_value")
    return rows


def _rollups_build(oldest: datetime, end: datetime) -> float:
    """Plain PostgreSQL: the load wrote the 1m rollups of every sample before `end` (a whole minute); roll the 1h
    ones from them in one statement, set the watermarks there, and let the project's refresh do the rest (nothing,
    or the minutes since). TimescaleDB: refresh the continuous aggregates."""
    from django.db import connection, transaction
    from psycopg import sql

    from historian.services.rollups import rollups_refresh
    from historian.storage import sample_storage
    from historian.storage.postgres import rollup_1h_upsert

    started = time.perf_counter()
    if sample_storage().maintains_rollups:
        complete_hours = end.replace(minute=0)
        with transaction.atomic(), connection.cursor() as cursor:
            first_hour = oldest.replace(minute=0, second=0, microsecond=0)
            cursor.cursor.execute(
                rollup_1h_upsert(sql.SQL("historian_rollup_1m AS m WHERE m.bucket >= %s AND m.bucket < %s")),
                [first_hour, complete_hours],
            )
            cursor.execute(
                "UPDATE historian_rollup_state SET rolled_until = CASE rollup WHEN '1m' THEN %s ELSE %s END",
                [end, complete_hours],
            )
        while True:
            report = rollups_refresh(max_chunks=240)
            progress(
                f"  rollups rolled up to {report.rolled_until_1m:%Y-%m-%d %H:%M} "
                f"({time.perf_counter() - started:.0f} s)"
            )
            if report.complete and not report.busy:
                break
    else:
        for name in ("historian_rollup_1m", "historian_rollup_1h"):
            execute(f"CALL refresh_continuous_aggregate('{name}', NULL, NULL)")
    for name in ("historian_rollup_1m", "historian_rollup_1h"):
        execute(f"VACUUM (ANALYZE) {name}")  # as autovacuum would: index-only scans need the visibility map
    return time.perf_counter() - started


# ----------------------------------------------------------------------------------------------------
# Timing


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _figures(result: dict[str, Any], name: str, project: list[float], naive: list[float]) -> None:
    result[f"{name}_p50_ms"] = round(_percentile(project, 0.5) * 1000, 2)
    result[f"{name}_p95_ms"] = round(_percentile(project, 0.95) * 1000, 2)
    result[f"{name}_naive_p50_ms"] = round(_percentile(naive, 0.5) * 1000, 2)
    result[f"{name}_naive_p95_ms"] = round(_percentile(naive, 0.95) * 1000, 2)
    result[f"ratio_{name}_to_naive"] = round(_percentile(project, 0.5) / _percentile(naive, 0.5), 4)


def _fetch(statement: str, params: Sequence[Any]) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def _plots(result: dict[str, Any], tag_id: int, end: datetime, repeats: int, naive_repeats: int) -> None:
    from historian.queries.plot import plot_values

    for label, span in PLOT_RANGES.items():
        start = end - span
        project, plot = timed(partial(plot_values, tag_ids=[tag_id], start=start, end=end, pixels=PIXELS), repeats)
        width = span / PIXELS
        naive, buckets = timed(partial(_fetch, _NAIVE_PLOT, [width, start, tag_id, start, end]), naive_repeats)
        values = [p.value for p in plot.series[tag_id] if p.value is not None]
        expected = (min(b[2] for b in buckets), max(b[3] for b in buckets)) if buckets else None
        got = (min(values), max(values)) if values else None
        if got != expected:
            raise RuntimeError(f"plot values over {label}: min and max {got}, the raw rows say {expected}")
        name = f"plot_{label}"
        _figures(result, name, project, naive)
        result[f"{name}_resolution"] = str(plot.resolution)
        result[f"{name}_points"] = len(plot.series[tag_id])
        result[f"{name}_naive_buckets"] = len(buckets)
        progress(
            f"  {name}: {result[f'{name}_p50_ms']} ms ({plot.resolution}), naive {result[f'{name}_naive_p50_ms']} ms"
        )


def _raw(result: dict[str, Any], tag_id: int, end: datetime, repeats: int) -> None:
    from historian.queries.raw import raw_values

    start = end - timedelta(seconds=RAW_POINTS)
    project, raw = timed(lambda: raw_values(tag_ids=[tag_id], start=start, end=end, max_points=RAW_POINTS), repeats)
    naive, rows = timed(lambda: _fetch(_NAIVE_RAW, [tag_id, start, end]), repeats)
    if len(raw[tag_id].points) != len(rows):
        raise RuntimeError(f"raw_values read {len(raw[tag_id].points)} samples, the plain SELECT {len(rows)}")
    _figures(result, "raw_100k", project, naive)
    result["raw_100k_points"] = len(rows)


def _snapshot(result: dict[str, Any], tag_ids: Sequence[int], repeats: int) -> None:
    from historian.queries.history import current_values

    def snapshot() -> Any:
        values = current_values(tag_ids=tag_ids)
        deque(values.values(), maxlen=0)  # every CurrentValue built once, as a caller that reads them all
        return values

    project, values = timed(snapshot, repeats)
    naive, rows = timed(lambda: _fetch(_NAIVE_SNAPSHOT, [list(tag_ids)]), repeats)
    if len(values) != len(rows) or len(rows) != len(tag_ids):
        raise RuntimeError(f"snapshot of {len(tag_ids)} tags: {len(values)} current values, {len(rows)} from history")
    differ = [r[0] for r in rows if (values[r[0]].time, values[r[0]].value, values[r[0]].quality) != tuple(r[1:])]
    if differ:
        raise RuntimeError(f"snapshot: {len(differ)} current values differ from history (tag {differ[0]} first)")
    _figures(result, "snapshot", project, naive)
    result["snapshot_tags"] = len(tag_ids)


# ----------------------------------------------------------------------------------------------------
# Main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.query", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of 1 s samples per fast tag (%(default)s)")
    parser.add_argument("--fast-tags", type=int, default=2, help="tags sampled every second (%(default)s)")
    parser.add_argument("--wide-tags", type=int, default=10_000, help="tags sampled every 60 s (%(default)s)")
    parser.add_argument("--wide-hours", type=int, default=6, help="hours of 60 s samples (%(default)s)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per query (%(default)s)")
    parser.add_argument(
        "--load-workers",
        type=int,
        default=max(1, min(4, os.cpu_count() or 1)),
        help="database sessions loading at once, one per core up to 4 (%(default)s)",
    )
    parser.add_argument(
        "--naive-repeats", type=int, default=3, help="timed calls of each naive plot query (%(default)s)"
    )
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    arguments_at_least_one(
        parser, args, ("days", "fast_tags", "wide_tags", "wide_hours", "repeats", "naive_repeats", "load_workers")
    )
    bench_django_setup(args)
    result = bench_run(args, lambda: _run(args))
    _report(result, out)
    return 0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    import json

    info = server_info()
    tag_ids = tags_create(args.fast_tags + args.wide_tags)
    fast, wide = tag_ids[: args.fast_tags], tag_ids[args.fast_tags :]
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    progress(
        f"loading {args.days} days of 1 s samples for {len(fast)} tags, {args.wide_hours} h of 60 s for {len(wide):,}"
    )
    load_started = time.perf_counter()
    rows = _load(fast, wide, end=end, days=args.days, wide_hours=args.wide_hours, workers=args.load_workers)
    progress("rolling up")
    load_s = time.perf_counter() - load_started
    rollup_s = _rollups_build(end - timedelta(days=args.days), end)
    result: dict[str, Any] = {
        **info,
        "database": args.database_name,
        "days": args.days,
        "fast_tags": len(fast),
        "wide_tags": len(wide),
        "wide_hours": args.wide_hours,
        "load_workers": args.load_workers,
        "rows": rows,
        "load_seconds": round(load_s, 2),
        "rollup_build_seconds": round(rollup_s, 2),
        "load_and_rollups_seconds": round(load_s + rollup_s, 2),
        "repeats": args.repeats,
        "naive_repeats": args.naive_repeats,
        "pixels": PIXELS,
    }
    progress("timing")
    _plots(result, fast[0], end, args.repeats, args.naive_repeats)
    _raw(result, fast[0], end, args.repeats)
    _snapshot(result, wide, args.repeats)
    json.dumps(result)  # fail here, not after the report, on a figure JSON cannot hold
    return result


def _report(result: dict[str, Any], out: TextIO) -> None:
    import json

    def line(text: str = "") -> None:
        print(text, file=out)

    def row(label: str, *cells: str) -> None:
        line(f"  {label:<44}" + "".join(f"{cell:>12}" for cell in cells))

    line(
        f"Millwright query benchmark: PostgreSQL {result['server_version']} ({result['storage_backend']} storage, "
        f"shared_buffers {result['shared_buffers']}), database {result['database']}"
    )
    line(
        f"{result['days']} days of 1 s samples for {result['fast_tags']} tags, {result['wide_hours']} h of 60 s "
        f"samples for {result['wide_tags']:,} tags: {result['rows']:,} rows; loaded (with the 1m rollups, "
        f"{result['load_workers']} sessions) in "
        f"{result['load_seconds']:.1f} s, 1h rollups and watermarks in {result['rollup_build_seconds']:.1f} s: "
        f"{result['load_and_rollups_seconds']:.1f} s in all"
    )
    line()
    row("query", "source", "p50 ms", "p95 ms", "naive p50", "naive p95", "cost ratio")
    names = [f"plot_{label}" for label in PLOT_RANGES] + ["raw_100k", "snapshot"]
    for name in names:
        source = result.get(f"{name}_resolution", "")
        row(
            name,
            source,
            f"{result[f'{name}_p50_ms']:.1f}",
            f"{result[f'{name}_p95_ms']:.1f}",
            f"{result[f'{name}_naive_p50_ms']:.1f}",
            f"{result[f'{name}_naive_p95_ms']:.1f}",
            f"{result[f'ratio_{name}_to_naive']:.3f}x",
        )
    line()
    line(
        f"naive: plot = date_bin over the raw rows ({PIXELS} buckets); raw_100k = the same SELECT through Django's "
        "cursor; snapshot = newest sample per tag from history"
    )
    line(f"total {result['elapsed_s']:.1f} s")
    line(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
