"""Ingest benchmark: what the project's write path costs next to the fastest way to store the same rows.

    python -m bench.ingest [--values 2000000] [--tags 10000] [--batch 10000] [--database-url URL]
    make bench BENCH_ARGS="--values 200000"       # on the embedded PostgreSQL of the `bench` profile

Runs in a database of its own (`millwright_bench` by default, dropped and re-created at start, migrated
with Django's `migrate` so the real schema is measured, dropped at the end unless --keep-database), on the
server of DATABASE_URL (or --database-url; with neither, the embedded server of config.settings.local).
Phases:

  (a) write path: --values rows through `samples_write_batch`, one batch per scan of --batch tags at one
      timestamp (tags taken round-robin from --tags), one transaction per batch, as the poller does;
  (b) raw COPY: the same rows by binary COPY straight into historian_sample (history truncated first), one
      transaction per batch: the floor for (a);
  (c) current values: one --batch-row update of tags that all have a current value already (the steady
      state), repeated --repeats times per strategy, strategies interleaved: the project's
      `current_values_write` (UPDATE first, upsert only when some tag has no row), INSERT .. ON CONFLICT DO
      UPDATE, UPDATE .. FROM unnest and MERGE (PostgreSQL 15+), all sent like the project sends them (through
      Django's cursor, a psycopg ClientCursor, which renders the arrays into the SQL text as literals); the
      upsert and the UPDATE again with server-bound binary parameters (a plain psycopg cursor on the same
      connection); only sending the arrays, both ways; and, for scale, binary COPY of the same rows into
      history (which still holds the rows of (b)). Statement time only (the commit is outside the timer),
      median over the repeats; each call is checked to have brought every row up to date;
  (e) commit policies: the rows of (a) again through the write path with --coalesce scans per call (one COPY,
      one current-value update, one commit), with synchronous_commit off (a commit per scan), and both: what a
      commit policy buys (an asynchronous commit is durable only once its WAL is flushed, so the acquisition side
      would have to keep each batch until then);
  (d) per-row INSERT of a small sample (--insert-rows), one execute per row, and the same through psycopg's
      executemany (pipeline mode): why history goes through COPY.

Ratios are cost ratios: ratio_a_to_b = time(a) / time(b) = rate(b) / rate(a), so > 1 means a is slower.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bench.common import (
    CURRENT_VALUE_TABLE,
    GOOD,
    SAMPLE_TABLE,
    ScanPlan,
    arguments_at_least_one,
    bench_django_setup,
    bench_run,
    checkpoint,
    database_arguments,
    execute,
    history_copy,
    raw_copy_time,
    scalar,
    server_info,
    tables_truncate,
    tags_create,
    write_path_time,
)

DEFAULT_DATABASE_NAME = "millwright_bench"
_INSERT_HISTORY = f"INSERT INTO {SAMPLE_TABLE} (time, tag_id, value, quality) VALUES (%s, %s, %s, %s)"
_UNNEST = "unnest(%s::int4[], %s::timestamptz[], %s::float8[], %s::int2[]) AS u(tag_id, time, value, quality)"
_UPSERT = (
    f"INSERT INTO {CURRENT_VALUE_TABLE} AS cv (tag_id, time, value, quality) "
    f"SELECT u.tag_id, u.time, u.value, u.quality FROM {_UNNEST} "
    "ON CONFLICT (tag_id) DO UPDATE SET time = excluded.time, value = excluded.value, "
    "quality = excluded.quality WHERE excluded.time >= cv.time"
)
_UPDATE = (
    f"UPDATE {CURRENT_VALUE_TABLE} AS cv SET time = u.time, value = u.value, quality = u.quality "
    f"FROM {_UNNEST} WHERE cv.tag_id = u.tag_id AND u.time >= cv.time"
)
_MERGE = (
    f"MERGE INTO {CURRENT_VALUE_TABLE} AS cv USING {_UNNEST} ON cv.tag_id = u.tag_id "
    "WHEN MATCHED AND u.time >= cv.time THEN UPDATE SET time = u.time, value = u.value, quality = u.quality "
    "WHEN NOT MATCHED THEN INSERT (tag_id, time, value, quality) "
    "VALUES (u.tag_id, u.time, u.value, u.quality)"
)
# The cost of shipping the four arrays to the server, without touching a table.
_PARAMS = f"SELECT count(*) FROM {_UNNEST}"
_WARMUP_REPEATS = 2


# ----------------------------------------------------------------------------------------------------
# Rows


def _scan(tag_ids: Sequence[int], at: datetime, seed: int) -> list:
    from historian.sample_types import SampleRow

    return [
        SampleRow(at, tag_id, ((seed * 7919 + k * 104729) % 100_000) / 100, GOOD) for k, tag_id in enumerate(tag_ids)
    ]


def _latest_params(rows: Sequence) -> list[list]:
    """The arrays `current_values_write` sends: the newest row per tag, as tag_id, time, value, quality."""
    latest: dict[int, Any] = {}
    for row in rows:
        seen = latest.get(row.tag_id)
        if seen is None or row.time >= seen.time:
            latest[row.tag_id] = row
    columns = list(zip(*latest.values(), strict=True))
    return [list(columns[1]), list(columns[0]), list(columns[2]), list(columns[3])]


# ----------------------------------------------------------------------------------------------------
# Measurements


def _server_counters() -> tuple[int, int]:
    """(WAL position in bytes, checkpoints requested so far: by max_wal_size, not by the timer)."""
    from django.db import DatabaseError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        wal = int(cursor.fetchone()[0])
        try:
            with transaction.atomic():
                cursor.execute("SELECT num_requested FROM pg_stat_checkpointer")  # PostgreSQL 17+
                requested = int(cursor.fetchone()[0])
        except DatabaseError:
            cursor.execute("SELECT checkpoints_req FROM pg_stat_bgwriter")
            requested = int(cursor.fetchone()[0])
    return wal, requested


def _write_path_policy(plan: ScanPlan, *, group: int, synchronous_commit: bool) -> float:
    """(e) The write path under a commit policy: `group` scans coalesced into one call (one COPY, one current-value
    update, one commit), and/or synchronous_commit off for the session (a commit returns before its WAL is flushed)."""
    from historian.services.samples import samples_write_batch

    if not synchronous_commit:
        execute("SET synchronous_commit = off")
    elapsed = 0.0
    pending: list = []
    try:
        for rows in plan.batches():
            pending.extend(rows)
            if len(pending) < group * plan.batch:
                continue
            started = time.perf_counter()
            samples_write_batch(rows=pending)
            elapsed += time.perf_counter() - started
            pending = []
        if pending:
            started = time.perf_counter()
            samples_write_batch(rows=pending)
            elapsed += time.perf_counter() - started
    finally:
        if not synchronous_commit:
            execute("RESET synchronous_commit")
    return elapsed


def _per_row_insert(plan: ScanPlan, *, many: bool) -> float:
    from django.db import connection, transaction

    elapsed = 0.0
    for rows in plan.batches():
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor
            if many:
                raw.executemany(_INSERT_HISTORY, rows)
            else:
                for row in rows:
                    raw.execute(_INSERT_HISTORY, row)
        elapsed += time.perf_counter() - started
    return elapsed


def _statement_strategy(statement: str, *, server_binding: bool = False) -> Callable[[Sequence], None]:
    """Run `statement` with the arrays `current_values_write` sends.

    Django's cursors (and so `cursor.cursor`) are psycopg ClientCursors: the parameters are rendered into the
    SQL text as literals. With `server_binding`, a plain psycopg cursor on the same connection (and transaction)
    sends them as binary parameters (%b) instead.
    """
    binary = statement.replace("%s", "%b")

    def run(rows: Sequence) -> None:
        import psycopg
        from django.db import connection

        params = _latest_params(rows)
        if server_binding:
            connection.ensure_connection()
            with psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(binary, params)
        else:
            with connection.cursor() as cursor:
                cursor.cursor.execute(statement, params)

    return run


def _project_strategy(rows: Sequence) -> None:
    from historian.services.samples import current_values_write

    current_values_write(rows=rows)


def _history_copy_strategy(rows: Sequence) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        history_copy(cursor.cursor, rows)


@dataclass(frozen=True)
class Strategy:
    key: str
    label: str
    run: Callable[[Sequence], None]
    table: str | None  # where the rows land, to check that each call stored all of them

    @property
    def updates_current_values(self) -> bool:
        return self.table == CURRENT_VALUE_TABLE


def _strategies(server_version_num: int) -> list[Strategy]:
    cv = CURRENT_VALUE_TABLE
    server = "server-bound binary params"
    strategies = [
        Strategy("project", "current_values_write (UPDATE first)", _project_strategy, cv),
        Strategy("upsert", "INSERT .. FROM unnest ON CONFLICT DO UPDATE", _statement_strategy(_UPSERT), cv),
        Strategy("update", "UPDATE .. FROM unnest", _statement_strategy(_UPDATE), cv),
    ]
    if server_version_num >= 150000:
        strategies.append(Strategy("merge", "MERGE .. USING unnest", _statement_strategy(_MERGE), cv))
    strategies += [
        Strategy(
            "upsert_server_binding",
            f"INSERT .. ON CONFLICT, {server}",
            _statement_strategy(_UPSERT, server_binding=True),
            cv,
        ),
        Strategy(
            "update_server_binding",
            f"UPDATE .. FROM unnest, {server}",
            _statement_strategy(_UPDATE, server_binding=True),
            cv,
        ),
        Strategy("params_only", "only send the arrays (as literals)", _statement_strategy(_PARAMS), None),
        Strategy(
            "params_only_server_binding",
            f"only send the arrays ({server})",
            _statement_strategy(_PARAMS, server_binding=True),
            None,
        ),
        Strategy("history_copy", "history: binary COPY of the same rows", _history_copy_strategy, SAMPLE_TABLE),
    ]
    return strategies


def _current_values(tag_ids: Sequence[int], start: datetime, repeats: int, server_version_num: int) -> dict:
    """Median seconds per strategy for one update of len(tag_ids) current values that all exist already.

    History keeps the rows of phase (b), so its COPY lands in an index of realistic size; `start` is after them.
    """
    from django.db import connection, transaction

    from historian.services.samples import current_values_write

    tables_truncate(CURRENT_VALUE_TABLE)
    with transaction.atomic():
        current_values_write(rows=_scan(tag_ids, start, seed=0))
    execute(f"VACUUM (ANALYZE) {CURRENT_VALUE_TABLE}")
    hot_before = _hot_updates(at_least=0)

    strategies = _strategies(server_version_num)
    timings: dict[str, list[float]] = {s.key: [] for s in strategies}
    tick = 0
    for repeat in range(-_WARMUP_REPEATS, repeats):
        shift = repeat % len(strategies)
        for strategy in strategies[shift:] + strategies[:shift]:
            tick += 1
            at = start + timedelta(seconds=tick)
            rows = _scan(tag_ids, at, seed=tick)
            with transaction.atomic():
                started = time.perf_counter()
                strategy.run(rows)
                elapsed = time.perf_counter() - started
            stored = len(tag_ids)
            if strategy.table is not None:
                stored = scalar(f"SELECT count(*) FROM {strategy.table} WHERE time = %s", [at])
            if stored != len(tag_ids):
                raise RuntimeError(f"{strategy.key} stored {stored} of {len(tag_ids)} rows at {at}")
            if repeat >= 0:
                timings[strategy.key].append(elapsed)
    connection.close()  # a backend flushes its table statistics when it exits
    current = sum(s.updates_current_values for s in strategies)
    hot_after = _hot_updates(at_least=hot_before[0] + current * (repeats + _WARMUP_REPEATS) * len(tag_ids))
    updates = hot_after[0] - hot_before[0]
    return {
        "strategies": strategies,
        "median": {key: statistics.median(values) for key, values in timings.items()},
        "hot_fraction": (hot_after[1] - hot_before[1]) / updates if updates > 0 else None,
    }


def _hot_updates(*, at_least: int) -> tuple[int, int]:
    """(updates, HOT updates) of the current-value table so far; waits up to 3 s for `at_least` updates, since
    a backend's counts reach the statistics a moment after its transaction or its exit."""
    from django.db import connection

    deadline = time.monotonic() + 3
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0) "
                "FROM pg_stat_user_tables WHERE relname = %s",
                [CURRENT_VALUE_TABLE],
            )
            updates, hot = cursor.fetchone()
            if updates >= at_least or time.monotonic() > deadline:
                return int(updates), int(hot)
            time.sleep(0.1)


# ----------------------------------------------------------------------------------------------------
# Main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=2_000_000, help="rows through each history writer (%(default)s)")
    parser.add_argument("--tags", type=int, default=10_000, help="tags the scans cycle through (%(default)s)")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per scan / write batch (%(default)s)")
    parser.add_argument(
        "--coalesce", type=int, default=4, help="(e): scans coalesced into one write and commit (%(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed current-value updates per strategy (%(default)s)"
    )
    parser.add_argument(
        "--insert-rows", type=int, default=20_000, help="rows written one INSERT at a time (%(default)s)"
    )
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    arguments_at_least_one(parser, args, ("values", "tags", "batch", "coalesce", "repeats", "insert_rows"))
    if args.batch > args.tags:
        parser.error("--batch cannot exceed --tags: a scan reads each tag once")
    bench_django_setup(args)
    result = bench_run(args, lambda: _run(args))
    _report(result, out)
    return 0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    info = server_info()
    tag_ids = tags_create(args.tags)
    # Scans stamped from an hour ahead on, so that they are live data however slowly the phases run: rows older than
    # a minute count as late data (the writer notes their rollup buckets for a re-roll), which is the backfill path,
    # not the one measured here (on a loaded machine, scans stamped from now fell behind the clock and took it). The
    # migration creates partitions a week ahead, so the next hours always have one.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    plan = ScanPlan(tag_ids=tag_ids, values=args.values, batch=args.batch, start=start)
    history_count = f"SELECT count(*) FROM {SAMPLE_TABLE}"

    # (a) the project's write path, (b) raw binary COPY of the same rows.
    checkpoint()
    wal_before, checkpoints_before = _server_counters()
    write_path_s = write_path_time(plan)
    wal_after, checkpoints_after = _server_counters()
    server = {
        "wal_bytes_per_value_write_path": round((wal_after - wal_before) / args.values, 1),
        "checkpoints_requested_write_path": checkpoints_after - checkpoints_before,
    }
    if (stored := scalar(history_count)) != args.values:
        raise RuntimeError(f"the write path stored {stored} of {args.values} rows")
    tables_truncate(SAMPLE_TABLE, CURRENT_VALUE_TABLE)
    wal_before, checkpoints_before = _server_counters()
    raw_copy_s = raw_copy_time(plan)
    wal_after, checkpoints_after = _server_counters()
    server["wal_bytes_per_value_raw_copy"] = round((wal_after - wal_before) / args.values, 1)
    server["checkpoints_requested_raw_copy"] = checkpoints_after - checkpoints_before
    if (stored := scalar(history_count)) != args.values:
        raise RuntimeError(f"raw COPY stored {stored} of {args.values} rows")

    # (e) commit policies: the same rows through the write path, coalesced and/or with asynchronous commit.
    policies: dict[str, float] = {}
    for key, group, synchronous in (
        (f"coalesced_{args.coalesce}", args.coalesce, True),
        ("async_commit", 1, False),
        (f"coalesced_{args.coalesce}_async_commit", args.coalesce, False),
    ):
        tables_truncate(SAMPLE_TABLE, CURRENT_VALUE_TABLE)
        policies[key] = _write_path_policy(plan, group=group, synchronous_commit=synchronous)
        if (stored := scalar(history_count)) != args.values:
            raise RuntimeError(f"the write path ({key}) stored {stored} of {args.values} rows")

    # (c) current values: one scan of `batch` tags, every strategy, interleaved.
    after_plan = start + plan.step * (-(-args.values // args.batch) + 1)
    cv = _current_values(tag_ids[: args.batch], after_plan, args.repeats, info["server_version_num"])

    # (d) a small sample one INSERT at a time, and through executemany.
    small = ScanPlan(tag_ids=tag_ids, values=args.insert_rows, batch=args.batch, start=start)
    tables_truncate(SAMPLE_TABLE, CURRENT_VALUE_TABLE)
    per_row_s = _per_row_insert(small, many=False)
    tables_truncate(SAMPLE_TABLE)
    executemany_s = _per_row_insert(small, many=True)
    if (stored := scalar(history_count)) != args.insert_rows:
        raise RuntimeError(f"executemany stored {stored} of {args.insert_rows} rows")
    tables_truncate(SAMPLE_TABLE)
    small_copy_s = raw_copy_time(small)

    result = _figures(args, info, write_path_s, raw_copy_s, cv, per_row_s, executemany_s, small_copy_s)
    result["coalesce"] = args.coalesce
    result.update(server)
    for key, seconds in policies.items():
        result[f"write_path_{key}_values_per_s"] = round(args.values / seconds)
        result[f"ratio_write_path_{key}_to_copy"] = round(seconds / raw_copy_s, 3)
    return result


def _figures(args, info, write_path_s, raw_copy_s, cv, per_row_s, executemany_s, small_copy_s) -> dict[str, Any]:
    rows = args.batch
    median = cv["median"]
    history_copy_s = median["history_copy"]
    batches = -(-args.values // args.batch)
    result: dict[str, Any] = {
        **info,
        "database": args.database_name,
        "values": args.values,
        "tags": args.tags,
        "batch": args.batch,
        "write_path_seconds": round(write_path_s, 3),
        "write_path_values_per_s": round(args.values / write_path_s),
        "raw_copy_seconds": round(raw_copy_s, 3),
        "raw_copy_values_per_s": round(args.values / raw_copy_s),
        "ratio_write_path_to_copy": round(write_path_s / raw_copy_s, 3),
        "write_path_ms_per_batch": round(write_path_s * 1000 / batches, 2),
        "raw_copy_ms_per_batch": round(raw_copy_s * 1000 / batches, 2),
        "cv_rows": rows,
        "cv_repeats": args.repeats,
    }
    for strategy in cv["strategies"]:
        seconds = median[strategy.key]
        result[f"cv_{strategy.key}_ms"] = round(seconds * 1000, 2)
        result[f"cv_{strategy.key}_rows_per_s"] = round(rows / seconds)
        if strategy.key != "history_copy":
            result[f"ratio_cv_{strategy.key}_to_history_copy"] = round(seconds / history_copy_s, 3)
    result["ratio_cv_project_to_upsert"] = round(median["project"] / median["upsert"], 3)
    result["ratio_cv_update_to_upsert"] = round(median["update"] / median["upsert"], 3)
    result["cv_update_first_beats_upsert"] = median["project"] < median["upsert"]
    current = [s.key for s in cv["strategies"] if s.updates_current_values]
    result["cv_fastest_strategy"] = min(current, key=median.__getitem__)
    result["ratio_cv_project_to_fastest"] = round(median["project"] / median[result["cv_fastest_strategy"]], 3)
    result["cv_project_share_sending_params"] = round(median["params_only"] / median["project"], 3)
    result["cv_hot_update_fraction"] = None if cv["hot_fraction"] is None else round(cv["hot_fraction"], 3)
    result.update(
        {
            "insert_rows": args.insert_rows,
            "per_row_insert_values_per_s": round(args.insert_rows / per_row_s),
            "executemany_insert_values_per_s": round(args.insert_rows / executemany_s),
            "small_copy_values_per_s": round(args.insert_rows / small_copy_s),
            "ratio_per_row_insert_to_copy": round(per_row_s / small_copy_s, 3),
            "ratio_executemany_insert_to_copy": round(executemany_s / small_copy_s, 3),
        }
    )
    return result


def _report(result: dict[str, Any], out: TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    def row(label: str, *cells: str) -> None:
        line(f"  {label:<54}" + "".join(f"{cell:>13}" for cell in cells))

    line(
        f"Millwright ingest benchmark: PostgreSQL {result['server_version']} "
        f"({result['storage_backend']} storage, "
        f"shared_buffers {result['shared_buffers']}, synchronous_commit {result['synchronous_commit']}, "
        f"fsync {result['fsync']}), database {result['database']}"
    )
    line(
        f"{result['values']:,} values, {result['tags']:,} tags, batches of {result['batch']:,} rows "
        f"(one scan of {result['batch']:,} tags at one timestamp per batch, one transaction per batch)"
    )
    line()
    row("(a), (b) history writes", "values/s", "ms/batch", "seconds", "cost vs COPY")
    row(
        "samples_write_batch (project write path)",
        f"{result['write_path_values_per_s']:,}",
        f"{result['write_path_ms_per_batch']:.1f}",
        f"{result['write_path_seconds']:.2f}",
        f"{result['ratio_write_path_to_copy']:.2f}x",
    )
    row(
        "raw binary COPY into historian_sample",
        f"{result['raw_copy_values_per_s']:,}",
        f"{result['raw_copy_ms_per_batch']:.1f}",
        f"{result['raw_copy_seconds']:.2f}",
        "1.00x",
    )
    line(
        f"  WAL per value: write path {result['wal_bytes_per_value_write_path']} bytes, raw COPY "
        f"{result['wal_bytes_per_value_raw_copy']} bytes; checkpoints requested by max_wal_size during them: "
        f"{result['checkpoints_requested_write_path']}, {result['checkpoints_requested_raw_copy']}"
    )
    line()
    row("(e) commit policies of the write path", "values/s", "", "", "cost vs COPY")
    for key, label in (
        (f"coalesced_{result['coalesce']}", f"{result['coalesce']} scans per COPY and commit"),
        ("async_commit", "synchronous_commit off (a commit per scan)"),
        (f"coalesced_{result['coalesce']}_async_commit", f"{result['coalesce']} scans per commit, asynchronous"),
    ):
        row(
            label,
            f"{result[f'write_path_{key}_values_per_s']:,}",
            "",
            "",
            f"{result[f'ratio_write_path_{key}_to_copy']:.2f}x",
        )
    line()
    n = result["insert_rows"]
    row(f"(d) {n:,} rows into an empty history", "values/s", "", "", "cost vs COPY")
    row("binary COPY", f"{result['small_copy_values_per_s']:,}", "", "", "1.00x")
    row(
        "INSERT, one execute per row",
        f"{result['per_row_insert_values_per_s']:,}",
        "",
        "",
        f"{result['ratio_per_row_insert_to_copy']:.1f}x",
    )
    row(
        "INSERT, executemany (psycopg pipeline)",
        f"{result['executemany_insert_values_per_s']:,}",
        "",
        "",
        f"{result['ratio_executemany_insert_to_copy']:.1f}x",
    )
    line()
    row(
        f"(c) {result['cv_rows']:,} current values, median of {result['cv_repeats']}",
        "rows/s",
        "ms/batch",
        "",
        "vs history",
    )
    labels = {s.key: s.label for s in _strategies(result["server_version_num"])}
    for key, label in labels.items():
        ratio = result.get(f"ratio_cv_{key}_to_history_copy", 1.0)
        row(label, f"{result[f'cv_{key}_rows_per_s']:,}", f"{result[f'cv_{key}_ms']:.2f}", "", f"{ratio:.2f}x")
    line()
    verdict = "beats" if result["cv_update_first_beats_upsert"] else "does NOT beat"
    line(
        f"current_values_write (UPDATE first) {verdict} the plain upsert: "
        f"{result['ratio_cv_project_to_upsert']:.2f}x its cost; "
        f"fastest: {labels[result['cv_fastest_strategy']]} "
        f"(current_values_write costs {result['ratio_cv_project_to_fastest']:.2f}x that)"
    )
    line(
        f"sending the four 10k-element arrays alone: {result['cv_params_only_ms']:.1f} ms as SQL literals (Django's "
        f"psycopg ClientCursor), {result['cv_params_only_server_binding_ms']:.1f} ms as server-bound binary "
        "parameters (what current_values_write uses)"
    )
    if result["cv_hot_update_fraction"] is not None:
        line(f"HOT updates of historian_current_value during (c): {result['cv_hot_update_fraction']:.0%}")
    line(f"total {result['elapsed_s']:.1f} s")
    line(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
