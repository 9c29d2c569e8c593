"""Scale curve: how ingest, the snapshot, the plot and a worker's memory grow with the number of tags.

    python -m bench.tag_scale [--tags 10000,100000,1000000] [--scans 3] [--repeats 5] [--memory-up-to 100000]

For each tag count N, in a fresh migrated database of its own (`millwright_bench_tag_scale`, dropped at the end
unless --keep-database), on the server of DATABASE_URL (or --database-url; else the embedded one):

  ingest    --scans scans of the N tags through the project's write path (`samples_write_batch`, one call and one
            transaction per --batch tags at one time, as a poll of one device), then the same rows by raw binary
            COPY into history: values/s of each and their ratio (write path rate / COPY rate, as bench.ingest's
            `ratio`).
  snapshot  `current_values` of all N tags (what the overview and the API snapshot read), --repeats times after a
            warm-up, against the newest sample of each tag read from history (one index probe per tag) in the
            same run; both must give the same values.
  plot      `plot_values` of one tag over its last hour of 1 s samples at 1,500 px, with the N tags' rows in the
            same table (up to --memory-up-to tags), against the same at the smallest N: growth.
  memory    a separate process that loads the poll configuration of the N tags as the acquisition worker's poller
            does (`poll_configs_load`) and stores --scans scans of them through `readings_store` (compression
            state, cached tag arrays, after-store hooks, live publish): its resident set size (RSS) after start-up
            (the baseline), after loading and after storing; reported as MB per 10,000 tags (up to --memory-up-to
            tags: a million tags in one process is not a deployment anyone runs).

Every figure is also given as its growth against the smallest N (x, beside N's own growth).
The last line printed is one JSON object with keys `tags`, `ingest_values_per_s`, `ingest_ratio_to_copy`,
`snapshot_p95_ms`, `plot_p95_ms` and `worker_rss_mb_per_10k_tags` (each by tag count) and every other figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bench.common import (
    CURRENT_VALUE_TABLE,
    GOOD,
    ROOT,
    SAMPLE_TABLE,
    ScanPlan,
    bench_database,
    bench_django_setup,
    bench_process_env,
    checkpoint,
    database_arguments,
    history_copy,
    percentile,
    progress,
    raw_copy_time,
    scalar,
    server_info,
    tables_truncate,
    tags_create,
    timed,
    write_path_time,
)

DEFAULT_DATABASE_NAME = "millwright_bench_tag_scale"
PIXELS = 1500
PLOT_HOUR = 3600  # 1 s samples of the plotted tag
_NEWEST_PER_TAG = (
    f"SELECT t.tag_id, s.time, s.value, s.quality FROM unnest(%s::int4[]) AS t(tag_id) "
    f"CROSS JOIN LATERAL (SELECT time, value, quality FROM {SAMPLE_TABLE} h WHERE h.tag_id = t.tag_id "
    "ORDER BY time DESC LIMIT 1) s"
)


def _ingest(tag_ids: Sequence[int], scans: int, batch: int, start: datetime) -> dict[str, Any]:
    plan = ScanPlan(tag_ids=tag_ids, values=len(tag_ids) * scans, batch=min(batch, len(tag_ids)), start=start)
    checkpoint()
    write_s = write_path_time(plan)
    if (stored := scalar(f"SELECT count(*) FROM {SAMPLE_TABLE}")) != plan.values:
        raise RuntimeError(f"the write path stored {stored} of {plan.values} rows")
    tables_truncate(SAMPLE_TABLE)  # the current values stay: the snapshot reads them
    copy_s = raw_copy_time(plan)
    return {
        "values": plan.values,
        "write_path_values_per_s": round(plan.values / write_s),
        "raw_copy_values_per_s": round(plan.values / copy_s),
        "ratio_to_copy": round(copy_s / write_s, 3),
    }


def _snapshot(tag_ids: Sequence[int], repeats: int) -> dict[str, Any]:
    from django.db import connection

    from historian.queries.history import current_values

    def snapshot() -> Any:
        values = current_values(tag_ids=None)
        deque(values.values(), maxlen=0)  # every CurrentValue built once, as a caller that reads them all
        return values

    def newest() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(_NEWEST_PER_TAG, ["{" + ",".join(map(str, tag_ids)) + "}"])
            return cursor.fetchall()

    project, values = timed(snapshot, repeats)
    naive, rows = timed(newest, max(1, repeats // 2))
    if len(values) != len(tag_ids) or len(rows) != len(tag_ids):
        raise RuntimeError(f"snapshot of {len(tag_ids)} tags: {len(values)} current values, {len(rows)} from history")
    differ = [r[0] for r in rows if (values[r[0]].time, values[r[0]].value, values[r[0]].quality) != tuple(r[1:])]
    if differ:
        raise RuntimeError(f"snapshot: {len(differ)} current values differ from history (tag {differ[0]} first)")
    return {
        "snapshot_p50_ms": _ms(project, 50),
        "snapshot_p95_ms": _ms(project, 95),
        "snapshot_naive_p50_ms": _ms(naive, 50),
        "snapshot_ratio_to_naive": round(percentile(project, 50) / percentile(naive, 50), 3),
    }


def _plot(tag_id: int, end: datetime, repeats: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from historian.queries.plot import plot_values
    from historian.sample_types import SampleRow

    start = end - timedelta(seconds=PLOT_HOUR)
    rows = [SampleRow(start + timedelta(seconds=i), tag_id, 50.0 + (i * 37) % 101 / 10, GOOD) for i in range(PLOT_HOUR)]
    with transaction.atomic(), connection.cursor() as cursor:
        history_copy(cursor.cursor, rows)
    seconds, plot = timed(lambda: plot_values(tag_ids=[tag_id], start=start, end=end, pixels=PIXELS), repeats)
    if not plot.series[tag_id]:
        raise RuntimeError("the plot of the last hour came back empty")
    return {"plot_p50_ms": _ms(seconds, 50), "plot_p95_ms": _ms(seconds, 95)}


def _ms(seconds: Sequence[float], p: float) -> float:
    return round(percentile(seconds, p) * 1000, 1)


def _memory(args: argparse.Namespace, scans: int, start: datetime) -> dict[str, Any]:
    """The worker-like process's RSS figures (see `memory_child`), run on the database this size is in."""
    env = bench_process_env()
    command = [sys.executable, "-m", "bench.tag_scale", "--memory-child", f"{scans},{args.batch},{start.isoformat()}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_child(spec: str) -> dict[str, Any]:
    """In a process of its own: RSS after start-up, after loading the bench device's tags as the poller does and
    after storing `scans` scans of them through the acquisition store, `batch` readings per call."""
    import psutil

    from bench.common import django_setup

    django_setup()
    from historian.models import Device, Tag
    from ingest.acquisition.poll import poll_configs_load
    from ingest.pipeline.context import IngestContext
    from ingest.pipeline.store import readings_store
    from ingest.protocols.base import PointReading

    scans_text, batch_text, start_text = spec.split(",", 2)
    scans, batch, start = int(scans_text), int(batch_text), datetime.fromisoformat(start_text)
    process = psutil.Process()
    device = Device.objects.get(name="Bench PLC")
    key = (device.pk, Tag.objects.filter(device=device).values_list("scan_class_id", flat=True)[0])
    context = IngestContext()
    rss_start = process.memory_info().rss
    config = poll_configs_load({key}, known={})[key]
    rss_loaded = process.memory_info().rss
    tag_ids = list(config.tags)
    stored = 0
    plan = ScanPlan(tag_ids=tag_ids, values=len(tag_ids) * scans, batch=min(batch, len(tag_ids)), start=start)
    for rows in plan.batches():  # the bench's scans (as the parent writes them), each a poll's readings
        readings = [PointReading(row.tag_id, row.value, row.quality) for row in rows]
        stored += readings_store(
            context=context, device=config.device, tags=config.tags, readings=readings, read_at=rows[0].time
        ).stored
    rss_end = process.memory_info().rss
    return {
        "tags": len(tag_ids),
        "stored": stored,
        "rss_start": rss_start,
        "rss_loaded": rss_loaded,
        "rss_end": rss_end,
    }


def _size(args: argparse.Namespace, count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"tags": count}
    with bench_database(args.database_name, args.database_url, keep=args.keep_database):
        progress(f"{count:,} tags: creating")
        started = time.perf_counter()
        ids = tags_create(count + 1)  # the last one is plotted, outside the scans
        figures["tags_create_s"] = round(time.perf_counter() - started, 1)
        tag_ids, plotted = ids[:-1], ids[-1]
        # Stamped from an hour ahead, as in bench.ingest: live data however slowly the phases run.
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        progress(f"{count:,} tags: ingest ({args.scans} scans)")
        figures.update(_ingest(tag_ids, args.scans, args.batch, start))
        progress(f"{count:,} tags: snapshot")
        figures.update(_snapshot(tag_ids, args.repeats))
        if count <= args.memory_up_to:
            progress(f"{count:,} tags: plot")
            figures.update(_plot(plotted, start, args.repeats))
            progress(f"{count:,} tags: worker memory")
            tables_truncate(SAMPLE_TABLE, CURRENT_VALUE_TABLE)
            memory = _memory(args, args.scans, start)
            if memory["tags"] != len(ids) or memory["stored"] != len(ids) * args.scans:
                raise RuntimeError(f"the memory process stored {memory['stored']} values of {memory['tags']} tags")
            mb = 1024 * 1024
            figures["worker_rss_start_mb"] = round(memory["rss_start"] / mb, 1)
            figures["worker_rss_mb"] = round(memory["rss_end"] / mb, 1)
            figures["worker_rss_mb_per_10k_tags"] = round(memory["rss_end"] / mb * 10_000 / count, 1)
            figures["worker_rss_added_mb_per_10k_tags"] = round(
                (memory["rss_end"] - memory["rss_start"]) / mb * 10_000 / count, 1
            )
            figures["worker_rss_config_mb_per_10k_tags"] = round(
                (memory["rss_loaded"] - memory["rss_start"]) / mb * 10_000 / count, 1
            )
    return figures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.tag_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--tags", default="10000,100000,1000000", help="tag counts, comma-separated (%(default)s)")
    parser.add_argument("--scans", type=int, default=3, help="scans of every tag per size (%(default)s)")
    parser.add_argument("--batch", type=int, default=10_000, help="tags per write, one device's poll (%(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of the snapshot and plot (%(default)s)")
    parser.add_argument(
        "--memory-up-to", type=int, default=100_000, help="largest tag count for the plot and memory (%(default)s)"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)), file=out)
        return 0
    try:
        counts = sorted({int(text) for text in args.tags.split(",")})
    except ValueError:
        parser.error(f"--tags must be whole numbers separated by commas, not {args.tags!r}")
    if not counts or counts[0] < 1 or min(args.scans, args.batch, args.repeats) < 1:
        parser.error("--tags, --scans, --batch and --repeats must be at least 1")
    bench_django_setup(args)
    started = time.perf_counter()
    result: dict[str, Any] = {**server_info(), "scans": args.scans, "batch": args.batch, "repeats": args.repeats}
    sizes = [_size(args, count) for count in counts]
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    result["sizes"] = sizes
    for key, figure in (
        ("ingest_values_per_s", "write_path_values_per_s"),
        ("ingest_ratio_to_copy", "ratio_to_copy"),
        ("snapshot_p95_ms", "snapshot_p95_ms"),
        ("plot_p95_ms", "plot_p95_ms"),
        ("worker_rss_mb_per_10k_tags", "worker_rss_mb_per_10k_tags"),
    ):
        result[key] = {str(size["tags"]): size[figure] for size in sizes if figure in size}
    result["tags"] = counts
    _report(result, out)
    return 0


def _report(result: dict[str, Any], out: TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    sizes = result["sizes"]
    base = sizes[0]
    line(
        f"Millwright scale curve: PostgreSQL {result['server_version']} ({result['storage_backend']} storage, "
        f"shared_buffers {result['shared_buffers']}); {result['scans']} scans per size, {result['batch']:,} tags "
        f"per write; growth is against {base['tags']:,} tags"
    )
    rows = [
        ("tags (growth)", "tags", "{:,}"),
        ("ingest: write path values/s", "write_path_values_per_s", "{:,}"),
        ("ingest: raw COPY values/s (baseline)", "raw_copy_values_per_s", "{:,}"),
        ("ingest: write path / raw COPY", "ratio_to_copy", "{:.2f}"),
        ("snapshot of every tag p50 ms", "snapshot_p50_ms", "{:.1f}"),
        ("snapshot of every tag p95 ms", "snapshot_p95_ms", "{:.1f}"),
        ("snapshot from history p50 ms (baseline)", "snapshot_naive_p50_ms", "{:.1f}"),
        ("plot 1 h p50 ms", "plot_p50_ms", "{:.1f}"),
        ("plot 1 h p95 ms", "plot_p95_ms", "{:.1f}"),
        ("worker RSS MB (start-up)", "worker_rss_start_mb", "{:.1f}"),
        ("worker RSS MB (after storing)", "worker_rss_mb", "{:.1f}"),
        ("worker RSS MB per 10k tags", "worker_rss_mb_per_10k_tags", "{:.1f}"),
        ("  of which added by the tags, MB/10k", "worker_rss_added_mb_per_10k_tags", "{:.1f}"),
        ("  of which the poll configuration, MB/10k", "worker_rss_config_mb_per_10k_tags", "{:.1f}"),
    ]
    line(f"  {'figure':<44}" + "".join(f"{size['tags']:>20,}" for size in sizes))
    for label, key, form in rows:
        cells = []
        for size in sizes:
            if key not in size:
                cells.append(f"{'-':>20}")
                continue
            text = form.format(size[key])
            if key in base and base[key] and size is not base and isinstance(size[key], int | float):
                text += f" ({size[key] / base[key]:.1f}x)"
            cells.append(f"{text:>20}")
        line(f"  {label:<44}" + "".join(cells))
    line(
        "  targets: worker RSS <= 300 MB per 10k tags polled; snapshot of 100k tags <= 100 ms; "
        "ingest >= 0.7 of raw COPY"
    )
    line(json.dumps({key: value for key, value in result.items() if key != "sizes"} | {"sizes": sizes}))


if __name__ == "__main__":
    sys.exit(main())
