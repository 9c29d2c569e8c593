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

Edge to central (Sparkplug B from a site instance to a central one, issue 16.7), after the COPY: the first
--edge-tags tags are published to a private Mosquitto; a copy of the bench database made then is the central's
(`<database>_central`, with a Sparkplug device and tags for the site's machine), whose real `manage.py
run_sparkplug` stores what the site's real `manage.py run_edge_publisher` sends from the outbox. This process
stores every --edge-period-ms a scan of those tags through the real store (its after-store hook fills the
outbox) for --seconds, and polls the central's history every --edge-poll-ms: `edge_to_central_values_per_s` is
the values that arrived over the time from the first store to the last arrival (bounded by what was offered:
`edge_offered_values_per_s`), `edge_to_central_p50_ms` / `_p99_ms` the time from a value's timestamp (the site's
poll, taken just before its store) to the first poll that finds it at the central (so within --edge-poll-ms plus
a poll's duration of its commit).

The last line printed is one JSON object: `workers` (count -> values/s), `edge_to_central_values_per_s`,
`edge_to_central_p99_ms` and every other figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from bench.acquisition import Gateway, plant_create
from bench.common import (
    ROOT,
    Layout,
    Worker,
    bench_django_setup,
    bench_run,
    database_arguments,
    execute,
    percentile,
    process_stop,
)

DEFAULT_DATABASE_NAME = "millwright_bench_scale"
GOOD = 0xC0  # historian.quality.Quality.GOOD, without importing Django before it is configured
_COPY = "COPY historian_sample (time, tag_id, value, quality) FROM STDIN (FORMAT BINARY)"


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


def _mosquitto_start(directory: Path, log: BinaryIO) -> tuple[subprocess.Popen, int]:
    """A private Mosquitto on a free loopback port (not the system broker others share)."""
    from common.net import free_port, wait_for_port

    exe = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    if exe is None:
        raise RuntimeError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([exe, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    if not wait_for_port("127.0.0.1", port, timeout=10, alive=lambda: process.poll() is None):
        process_stop(process, timeout=5)
        raise RuntimeError("mosquitto did not start")
    return process, port


def _manage_py(command: Sequence[str], *, database: str, env: dict[str, str], log: BinaryIO) -> subprocess.Popen:
    """`manage.py <command>` of one of the two instances (the site's or the central's database)."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    full_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{database}",
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    full_env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    return subprocess.Popen(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
    )


def _central_create(site: str, central: str) -> None:
    """The central's database: a copy of the site's as it is now (CREATE DATABASE ... TEMPLATE)."""
    import psycopg
    from django.db import connection
    from psycopg import sql

    from bench.common import _server_params

    connection.close()  # a template must have no other session
    with psycopg.connect(**_server_params(connection.settings_dict), dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(central)))
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(central), sql.Identifier(site)))


def _central_drop(central: str) -> None:
    import psycopg
    from django.db import connection
    from psycopg import sql

    from bench.common import _server_params

    with psycopg.connect(**_server_params(connection.settings_dict), dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(central)))


class _Arrivals:
    """The central's history polled: when each of the site's values first appears there. Each poll reads only
    from the oldest scan not complete yet (a short range, whatever the run's length)."""

    def __init__(self, central: str, tag_ids: Sequence[int]) -> None:
        import psycopg
        from django.db import connection

        from bench.common import _server_params

        self.conn = psycopg.connect(**_server_params(connection.settings_dict), dbname=central, autocommit=True)
        self.tag_ids = list(tag_ids)
        self.pending: list[datetime] = []  # the site's scan times not all at the central yet, oldest first
        self.seen: dict[datetime, int] = {}
        self.latencies_ms: list[float] = []
        self.last_arrival = 0.0

    def expect(self, at: datetime) -> None:
        self.pending.append(at)

    def reset(self) -> None:
        self.pending.clear()
        self.seen.clear()
        self.latencies_ms.clear()

    def poll(self) -> int:
        """Values arrived so far."""
        if not self.pending:
            return len(self.latencies_ms)
        rows = self.conn.execute(
            "SELECT time, count(*) FROM historian_sample WHERE tag_id = ANY(%s) AND time >= %s AND quality = %s "
            "GROUP BY time",
            [self.tag_ids, self.pending[0], GOOD],
        ).fetchall()
        now = time.time()
        for at, count in rows:
            new = count - self.seen.get(at, 0)
            if new > 0:
                self.seen[at] = count
                self.latencies_ms.extend([(now - at.timestamp()) * 1000] * new)
                self.last_arrival = now
        while self.pending and self.seen.get(self.pending[0], 0) >= len(self.tag_ids):
            self.pending.pop(0)
        return len(self.latencies_ms)

    def close(self) -> None:
        self.conn.close()


def _edge_plant(port: int, count: int) -> tuple[dict[int, Any], dict[int, dict[int, Any]], list[int]]:
    """The first `count` tags of the site marked for publishing, an edge publication to the private broker, and the
    central's view of them (a Sparkplug device per site machine, a tag per metric) made before the copy so that the
    central holds them. Returns the site's devices and their published tags (by device id), and the central's tag
    ids."""
    from historian.models import Device, EdgePublication, Machine, Protocol, Tag

    site_tags = list(Tag.objects.select_related("machine").order_by("device_id", "pk")[:count])
    Tag.objects.filter(pk__in=[t.pk for t in site_tags]).update(edge_publish=True)
    EdgePublication.objects.create(
        name="central", host="127.0.0.1", port=port, group_id="Bench", edge_node_id="Site", primary_host_id="central"
    )
    devices = {d.pk: d for d in Device.objects.filter(pk__in={t.device_id for t in site_tags})}
    by_device: dict[int, dict[int, Any]] = {}
    remotes: dict[int, tuple[Any, Any]] = {}
    central: list[Any] = []
    for tag in site_tags:
        by_device.setdefault(tag.device_id, {})[tag.pk] = tag
        machine = tag.machine
        if machine.pk not in remotes:
            remote = Device.objects.create(
                name=f"Site / {machine.name}",
                protocol=Protocol.SPARKPLUG,
                host="127.0.0.1",
                port=port,
                sparkplug_group_id="Bench",
                sparkplug_edge_node_id="Site",
                sparkplug_device_id=machine.name,
            )
            remotes[machine.pk] = (
                remote,
                Machine.objects.create(line_id=machine.line_id, name=f"Central {machine.name}"),
            )
        remote, central_machine = remotes[machine.pk]
        central.append(
            Tag(
                path=f"Central/{machine.name}/{tag.name}",
                machine=central_machine,
                device=remote,
                scan_class_id=tag.scan_class_id,
                name=tag.name,
                address=tag.name,
                data_type=tag.data_type,
                span_high=100.0,
            )
        )
    ids = [t.pk for t in Tag.objects.bulk_create(central, batch_size=5000)]
    return devices, by_device, ids


def _edge_to_central(args: argparse.Namespace, layout: Layout, out: TextIO) -> dict[str, Any]:
    """Values stored on the site (the real store: its after-store hook fills the outbox) through a real
    `run_edge_publisher`, a private Mosquitto and the central's real `run_sparkplug`, into the central's database
    (a second database on the same server). Latency: the value's time (the site's poll) to the first poll of the
    central's history that finds it (every --edge-poll-ms: a resolution of that much)."""
    from django.conf import settings
    from django.db import connection

    from historian.quality import Quality
    from ingest.pipeline.context import IngestContext
    from ingest.pipeline.store import readings_store
    from ingest.protocols.base import PointReading

    execute("TRUNCATE historian_sample, historian_current_value")
    count = min(args.edge_tags, layout.devices * layout.tags_per_device)
    site_db = connection.settings_dict["NAME"]
    central_db = f"{site_db}_central"
    saved_outbox = settings.INGEST_EDGE_OUTBOX_PATH
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "edge.log", "w+b") as log:
        broker, port = _mosquitto_start(Path(tmp), log)
        processes: list[subprocess.Popen] = []
        arrivals: _Arrivals | None = None
        try:
            devices, tags, central_ids = _edge_plant(port, count)
            _central_create(site_db, central_db)
            settings.INGEST_EDGE_OUTBOX_PATH = str(Path(tmp) / "site-outbox.sqlite")
            central_env = {
                "SPARKPLUG_HOST_ID": "central",
                "INGEST_BUFFER_PATH": str(Path(tmp) / "central-buffer.sqlite"),
                "INGEST_EDGE_OUTBOX_PATH": str(Path(tmp) / "central-outbox.sqlite"),
            }
            processes.append(
                _manage_py(
                    ["run_sparkplug", "--flush-ms", "100", "--reload-seconds", "2"],
                    database=central_db,
                    env=central_env,
                    log=log,
                )
            )
            site_env = {
                "INGEST_BUFFER_PATH": str(Path(tmp) / "site-buffer.sqlite"),
                "INGEST_EDGE_OUTBOX_PATH": settings.INGEST_EDGE_OUTBOX_PATH,
            }
            processes.append(
                _manage_py(["run_edge_publisher", "--flush-ms", "100"], database=site_db, env=site_env, log=log)
            )
            arrivals = _Arrivals(central_db, central_ids)
            context = IngestContext()
            period = args.edge_period_ms / 1000
            scan = 0

            def store(value: float) -> datetime:
                now = datetime.now(UTC)
                at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Sparkplug carries milliseconds
                for device_id, device_tags in tags.items():  # one store per device, as a worker's poll
                    readings = [PointReading(pk, value, Quality.GOOD) for pk in device_tags]
                    readings_store(
                        context=context, device=devices[device_id], tags=device_tags, readings=readings, read_at=at
                    )
                return at

            # Both processes start (a minute on a loaded machine) and a first scan goes through: the warm-up.
            arrivals.expect(store(-1.0))
            deadline = time.monotonic() + 240
            while arrivals.poll() < count:
                if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                    raise RuntimeError("the first values did not reach the central (see the processes' log)")
                time.sleep(0.2)
            arrivals.reset()
            # The measured scans: one every --edge-period-ms for --seconds, the central polled in between.
            started = time.time()
            stored = 0
            next_at = time.monotonic()
            end = next_at + args.seconds
            while next_at < end:
                arrivals.expect(store(float(scan % 1000)))
                scan += 1
                stored += count
                next_at += period
                while time.monotonic() < next_at:
                    arrivals.poll()
                    time.sleep(min(args.edge_poll_ms / 1000, max(0.0, next_at - time.monotonic())))
            deadline = time.monotonic() + 60
            while arrivals.poll() < stored and time.monotonic() < deadline:
                time.sleep(args.edge_poll_ms / 1000)
            latencies = arrivals.latencies_ms
            arrived = len(latencies)
            elapsed = arrivals.last_arrival - started
        finally:
            settings.INGEST_EDGE_OUTBOX_PATH = saved_outbox
            if arrivals is not None:
                arrivals.close()
            for process in processes:
                process_stop(process, timeout=20)
            process_stop(broker, timeout=5)
            _central_drop(central_db)
            log.seek(0)
            errors = [line.decode(errors="replace").strip()[:300] for line in log if b"Traceback" in line]
    result = {
        "edge_tags": count,
        "edge_period_ms": args.edge_period_ms,
        "edge_values_stored": stored,
        "edge_values_arrived": arrived,
        "edge_offered_values_per_s": round(stored / args.seconds, 1),
        "edge_to_central_values_per_s": round(arrived / elapsed, 1) if arrived and elapsed > 0 else 0.0,
        "edge_to_central_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "edge_to_central_p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "edge_poll_ms": args.edge_poll_ms,
        "edge_errors": errors[:5],
    }
    print(
        f"  edge to central: {result['edge_to_central_values_per_s']:,} values/s through Sparkplug "
        f"({arrived:,} of {stored:,} stored, {count} tags every {args.edge_period_ms} ms), site store to central "
        f"commit p50 {result['edge_to_central_p50_ms']} ms, p99 {result['edge_to_central_p99_ms']} ms "
        f"(central polled every {args.edge_poll_ms} ms)",
        file=out,
    )
    return result


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
        **_edge_to_central(args, layout, out),
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
    parser.add_argument("--edge-tags", type=int, default=1000, help="tags the site publishes (%(default)s)")
    parser.add_argument("--edge-period-ms", type=int, default=100, help="the site's store period (%(default)s ms)")
    parser.add_argument("--edge-poll-ms", type=int, default=20, help="central history poll (%(default)s ms)")
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
    if args.edge_tags < 1 or args.edge_period_ms < 10 or args.edge_poll_ms < 1:
        parser.error("--edge-tags must be at least 1, --edge-period-ms at least 10, --edge-poll-ms at least 1")
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
    print(json.dumps(result), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
