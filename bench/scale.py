"""Scale-out benchmark: ingest through 1, 2 and 4 acquisition workers, next to raw COPY measured in the same run.

    python -m devtools.embedded run --profile bench -- python -m bench.scale [--workers 1,2,4] [--tags 10000]

Runs in a database of its own (`millwright_bench_scale`, dropped and re-created, migrated) like bench.acquisition:
a Modbus gateway in this process serves --devices unit ids of --tags / --devices float32 values that change every
second (so every poll stores every tag). For each worker count N, N real `celery worker --acquisition` processes
(each --concurrency pool processes) share the devices through their leases; once every device is held, --seconds
are measured: values stored per second, the workers' CPU time (main processes and children) per 1,000 values, and
the PostgreSQL server's CPU time per 1,000 values (every process of the server, so the bench process's own
queries count too: they are a few per phase). The history is emptied between phases.

Baseline, in the same run: the same number of rows as the largest phase stored, written by binary COPY straight
into historian_sample in batches of one device's tags (one transaction each): its values/s and its CPU per 1,000
values (this process and its server backend). `ratio_cpu_to_copy` per phase: the workers' CPU per 1,000 values
over the COPY's.

Edge to central (Sparkplug B from a site instance to a central one, issue 16.1): measured only when the edge
publisher is in the tree; until then its keys are null and `edge_to_central_reason` says why.

The last line printed is one JSON object: `workers` (count -> values/s), `edge_to_central_values_per_s`,
`edge_to_central_p99_ms` and every other figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bench.acquisition import Gateway, plant_create
from bench.common import Layout, Worker, bench_django_setup, bench_run, database_arguments, execute

DEFAULT_DATABASE_NAME = "millwright_bench_scale"
GOOD = 0xC0  # historian.quality.Quality.GOOD, without importing Django before it is configured
_COPY = "COPY historian_sample (time, tag_id, value, quality) FROM STDIN (FORMAT BINARY)"
EDGE_PUBLISHER_MODULE = "ingest.edge"
EDGE_TO_CENTRAL_REASON = (
    "the edge publisher (issue 16.1, branch edge-publisher) is not on main yet: nothing publishes a site's values "
    "to a central instance, so the path cannot be measured"
)


def _worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--workers takes counts of at least 1, separated by commas (1,2,4)")
    return counts


def _server_cpu_seconds() -> float:
    """CPU time of every process of the PostgreSQL server (the postmaster and its children), when it is local."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        data_directory = cursor.fetchone()[0]
    try:
        postmaster = psutil.Process(int(Path(data_directory, "postmaster.pid").read_text().split()[0]))
        processes = [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        return float("nan")  # a remote or unreadable server
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + getattr(times, "children_user", 0) + getattr(times, "children_system", 0)
    return total


def _stored(since: float, until: float) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM historian_sample WHERE time >= to_timestamp(%s) AND time < to_timestamp(%s) "
            "AND quality = %s",
            [since, until, GOOD],
        )
        return cursor.fetchone()[0]


def _held_by_all(names: Sequence[str], devices: int) -> bool:
    from common.redis import redis_client
    from ingest.acquisition.leases import KEY_PREFIX

    values = redis_client().mget([f"{KEY_PREFIX}{d}" for d in _device_ids()])
    owners = [v.decode() if isinstance(v, bytes) else v for v in values if v is not None]
    return len(owners) == devices and {o.rsplit(":", 1)[0] for o in owners} == set(names)


def _device_ids() -> list[int]:
    from historian.models import Device

    return list(Device.objects.order_by("pk").values_list("pk", flat=True))


def _workers_phase(args: argparse.Namespace, layout: Layout, count: int, out: TextIO) -> dict[str, Any]:
    execute("TRUNCATE historian_sample, historian_current_value")
    with tempfile.TemporaryDirectory() as tmp:
        workers: list[Worker] = []
        log_path = Path(tmp) / "workers.log"
        with open(log_path, "w+") as log:
            try:
                for i in range(count):
                    buffer_dir = Path(tmp) / f"w{i}"
                    buffer_dir.mkdir()
                    workers.append(Worker(concurrency=args.concurrency, buffer_dir=buffer_dir, log=log))
                names = [w.name for w in workers]
                # Every worker holds devices (leases settle), then a warm-up, then the measured seconds.
                deadline = time.monotonic() + 60 + args.warmup
                shared = count <= layout.devices
                while shared and not _held_by_all(names, layout.devices):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{count} workers did not share the {layout.devices} devices in time")
                    time.sleep(0.2)
                time.sleep(args.warmup)
                since = float(int(time.time()) + 1)
                time.sleep(max(0.0, since - time.time()))
                cpu_before, db_before = sum(w.cpu_seconds() for w in workers), _server_cpu_seconds()
                time.sleep(args.seconds)
                until = since + args.seconds
                time.sleep(args.period_ms / 1000 + 0.5)  # the last scan's writes land
                cpu_s = sum(w.cpu_seconds() for w in workers) - cpu_before
                db_s = _server_cpu_seconds() - db_before
            finally:
                for worker in workers:
                    worker.stop()
            log.seek(0)
            errors = [line.strip()[:300] for line in log if "ERROR" in line or "Traceback" in line]
    stored = _stored(since, until)
    per_1000 = stored / 1000
    result = {
        "workers": count,
        "values_stored": stored,
        "values_expected": int(args.seconds * 1000 / args.period_ms) * layout.devices * layout.tags_per_device,
        "values_per_s": round(stored / args.seconds, 1),
        "worker_cpu_s": round(cpu_s, 3),
        "worker_cpu_ms_per_1000_values": round(cpu_s * 1000 / per_1000, 3) if stored else None,
        "db_cpu_ms_per_1000_values": round(db_s * 1000 / per_1000, 3) if stored and db_s == db_s else None,
        "worker_errors": len(errors),
        "worker_error_lines": errors[:5],
    }
    print(
        f"  {count} worker(s): {result['values_per_s']:>10,.0f} values/s ({stored:,} of "
        f"{result['values_expected']:,}), worker CPU {result['worker_cpu_ms_per_1000_values']} ms and database "
        f"CPU {result['db_cpu_ms_per_1000_values']} ms per 1,000 values",
        file=out,
    )
    return result


def _copy_phase(rows: int, layout: Layout) -> dict[str, Any]:
    """The baseline: `rows` rows by binary COPY, one transaction per device-sized batch."""
    import psutil
    from django.db import connection, transaction

    from historian.models import Tag

    execute("TRUNCATE historian_sample")
    tag_ids = list(Tag.objects.order_by("pk").values_list("pk", flat=True))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    batch = layout.tags_per_device
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    backend_before = sum(backend.cpu_times()[:2])
    cpu_before, wall_before = time.thread_time(), time.perf_counter()
    written = 0
    scan = 0
    while written < rows:
        at = start + timedelta(seconds=scan)
        for first in range(0, len(tag_ids), batch):
            chunk = tag_ids[first : first + batch][: rows - written]
            with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(_COPY) as copy:
                copy.set_types(["timestamptz", "int4", "float8", "int2"])
                for tag_id in chunk:
                    copy.write_row((at, tag_id, float(scan % 1000), GOOD))
            written += len(chunk)
            if written >= rows:
                break
        scan += 1
    wall = time.perf_counter() - wall_before
    cpu = time.thread_time() - cpu_before + sum(backend.cpu_times()[:2]) - backend_before
    execute("TRUNCATE historian_sample")
    return {
        "copy_rows": written,
        "copy_values_per_s": round(written / wall),
        "copy_cpu_ms_per_1000_values": round(cpu * 1000 / (written / 1000), 3),
    }


def _edge_to_central() -> dict[str, Any]:
    from importlib.util import find_spec

    if find_spec(EDGE_PUBLISHER_MODULE) is None:
        return {
            "edge_to_central_values_per_s": None,
            "edge_to_central_p50_ms": None,
            "edge_to_central_p99_ms": None,
            "edge_to_central_reason": EDGE_TO_CENTRAL_REASON,
        }
    raise NotImplementedError(f"{EDGE_PUBLISHER_MODULE} is here: measure the edge-to-central path (issue 16.7)")


def _run(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    layout = Layout(devices=args.devices, tags_per_device=args.tags // args.devices)
    phases = []
    with Gateway(layout) as gateway:
        plant_create(layout, gateway.port, args.period_ms)
        for count in args.workers:
            phases.append(_workers_phase(args, layout, count, out))
    largest = max(p["values_stored"] for p in phases) or layout.devices * layout.tags_per_device
    copy = _copy_phase(largest, layout)
    for phase in phases:
        worker_cpu = phase["worker_cpu_ms_per_1000_values"]
        phase["ratio_cpu_to_copy"] = round(worker_cpu / copy["copy_cpu_ms_per_1000_values"], 2) if worker_cpu else None
    return {
        "tags": layout.devices * layout.tags_per_device,
        "devices": layout.devices,
        "period_ms": args.period_ms,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        "workers": {str(p["workers"]): p["values_per_s"] for p in phases},
        "phases": phases,
        **copy,
        **_edge_to_central(),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=_worker_counts, default=[1, 2, 4], help="worker counts (1,2,4)")
    parser.add_argument("--tags", type=int, default=10_000, help="tags polled (%(default)s)")
    parser.add_argument("--devices", type=int, default=8, help="unit ids behind the gateway (%(default)s)")
    parser.add_argument("--period-ms", type=int, default=1000, help="scan period (%(default)s ms)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per phase (%(default)s s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="scans before measuring (%(default)s s)")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker (%(default)s)")
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if args.devices < 1 or args.tags < args.devices:
        parser.error("--devices must be at least 1 and --tags at least --devices")
    if args.tags // args.devices * 2 > 65536:
        parser.error("at most 32,768 float32 tags per device")
    if args.period_ms < 100 or args.seconds < args.period_ms / 1000 or args.concurrency < 1:
        parser.error("--period-ms must be >= 100, --seconds at least one period, --concurrency >= 1")
    bench_django_setup(args)
    print(
        f"scale: {args.tags:,} tags on {args.devices} devices, {args.period_ms} ms scan, workers "
        f"{','.join(map(str, args.workers))} (concurrency {args.concurrency}) on {os.cpu_count()} CPUs",
        file=out,
    )
    result = bench_run(args, lambda: _run(args, out))
    print(
        f"  raw COPY:   {result['copy_values_per_s']:>10,} values/s, {result['copy_cpu_ms_per_1000_values']} ms CPU "
        f"per 1,000 values (client and backend); workers' CPU ratio to it: "
        + ", ".join(f"{p['workers']}: {p['ratio_cpu_to_copy']}x" for p in result["phases"]),
        file=out,
    )
    if result["edge_to_central_values_per_s"] is None:
        print(f"  edge to central: not measured: {result['edge_to_central_reason']}", file=out)
    print(json.dumps(result), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
