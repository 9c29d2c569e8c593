"""What the benchmarks share: Django set-up, a dedicated migrated database, bench tags, the server's settings, and
for the acquisition benchmarks a real `celery worker --acquisition` measured on wall-clock ticks (Modbus and OPC UA
alike). Public helpers; no benchmark imports another's."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent

GOOD = 0xC0  # historian.quality.Quality.GOOD, without importing Django before it is configured
SAMPLE_TABLE = "historian_sample"
CURRENT_VALUE_TABLE = "historian_current_value"
_COPY_TYPES = ["timestamptz", "int4", "float8", "int2"]
_COPY_HISTORY = f"COPY {SAMPLE_TABLE} (time, tag_id, value, quality) FROM STDIN (FORMAT BINARY)"


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def _server_params(settings_dict: dict[str, Any]) -> dict[str, Any]:
    params = {
        "host": settings_dict.get("HOST"),
        "port": settings_dict.get("PORT"),
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
    }
    return {key: value for key, value in params.items() if value not in (None, "")}


def _database_recreate(server: dict[str, Any], name: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def bench_database(name: str, database_url: str | None, *, keep: bool) -> Iterator[None]:
    """Point Django's default connection at a fresh, migrated database `name`; restore it afterwards."""
    import environ
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    import historian.storage

    saved = dict(connection.settings_dict)
    saved_debug = settings.DEBUG
    if database_url:
        parsed = environ.Env.db_url_config(database_url)
        overrides = {key: parsed.get(key, "") for key in ("HOST", "PORT", "USER", "PASSWORD")}
    else:
        overrides = {}
    server = _server_params({**saved, **overrides})
    connection.close()
    _database_recreate(server, name)
    connection.settings_dict.update(overrides, NAME=name)
    # DEBUG makes Django record every query; production runs without it.
    settings.DEBUG = False
    # The storage backend is cached per database name; a previous run may have seen another server.
    cache_clear = getattr(getattr(historian.storage, "_storage_for", None), "cache_clear", None)
    if cache_clear is not None:
        cache_clear()
    _process_caches_clear()
    try:
        call_command("migrate", interactive=False, verbosity=0)
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        settings.DEBUG = saved_debug
        if cache_clear is not None:
            cache_clear()
        _process_caches_clear()
        if not keep:
            _database_recreate(server, name, drop_only=True)


def _process_caches_clear() -> None:
    """What this process keeps in memory from the database it was on (content type ids, alarm definitions, the
    plant's zone...) belongs to that database: forgotten when the connection moves to another one and back."""
    from django.contrib.contenttypes.models import ContentType

    from common.version_token import version_tokens_bump_all

    ContentType.objects.clear_cache()
    version_tokens_bump_all()


def tags_create(
    count: int,
    *,
    period_ms: int = 1000,
    device_fields: dict[str, Any] | None = None,
    tag_fields: Callable[[int], dict[str, Any]] | None = None,
) -> list[int]:
    """`count` tags of one bench machine on one device (`device_fields`; default a Modbus PLC) in one scan class of
    `period_ms`; `tag_fields(i)`: the name, address and data type of tag i (default: holding registers)."""
    from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag

    site = Site.objects.create(name="Bench")
    area = Area.objects.create(site=site, name="Bench")
    line = Line.objects.create(area=area, name="Bench")
    machine = Machine.objects.create(line=line, name="Bench")
    device = Device.objects.create(host="127.0.0.1", **(device_fields or {"name": "Bench PLC"}))
    scan_class = ScanClass.objects.create(name="Bench", period_ms=period_ms)
    fields = tag_fields or (lambda i: {"name": f"t{i:06d}", "address": f"HR{(2 * i) % 65534}"})
    tags = [
        Tag(path=f"Bench/Bench/Bench/Bench.{tag['name']}", machine=machine, device=device, scan_class=scan_class, **tag)
        for tag in map(fields, range(count))
    ]
    return [tag.pk for tag in Tag.objects.bulk_create(tags, batch_size=5000)]


@dataclass(frozen=True)
class ScanPlan:
    """`values` rows as scans: scan i reads `batch` tags (round-robin over `tag_ids`) at start + i * step."""

    tag_ids: Sequence[int]
    values: int
    batch: int
    start: datetime
    step: timedelta = timedelta(seconds=1)

    def batches(self) -> Iterator[list]:
        from historian.sample_types import SampleRow

        n = len(self.tag_ids)
        for scan, first in enumerate(range(0, self.values, self.batch)):
            size = min(self.batch, self.values - first)
            offset = first % n
            at = self.start + scan * self.step
            yield [
                SampleRow(at, self.tag_ids[(offset + k) % n], ((scan * 7919 + k * 104729) % 100_000) / 100, GOOD)
                for k in range(size)
            ]


def checkpoint() -> None:
    """Start a phase without the previous phase's dirty buffers (skipped without the privilege)."""
    from django.db import DatabaseError

    with contextlib.suppress(DatabaseError):
        execute("CHECKPOINT")


def tables_truncate(*tables: str) -> None:
    execute(f"TRUNCATE {', '.join(tables)}")
    checkpoint()


def history_copy(raw_cursor: Any, rows: Sequence) -> None:
    """`rows` (SampleRow) into history by binary COPY on a psycopg cursor: the fastest way to store them."""
    with raw_cursor.copy(_COPY_HISTORY) as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def write_path_time(plan: ScanPlan) -> float:
    """Seconds spent storing `plan` through the project's write path, one call (and transaction) per scan."""
    from historian.services.samples import samples_write_batch

    elapsed = 0.0
    for rows in plan.batches():
        started = time.perf_counter()
        samples_write_batch(rows=rows)
        elapsed += time.perf_counter() - started
    return elapsed


def raw_copy_time(plan: ScanPlan) -> float:
    """Seconds spent storing `plan` by raw binary COPY into history, one transaction per scan (the floor)."""
    from django.db import connection, transaction

    elapsed = 0.0
    for rows in plan.batches():
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            history_copy(cursor.cursor, rows)
        elapsed += time.perf_counter() - started
    return elapsed


def progress(text: str) -> None:
    """A benchmark's progress line, on stderr (stdout holds the report and its JSON line)."""
    print(text, file=sys.stderr, flush=True)


def scalar(statement: str, params: Sequence[Any] = ()) -> Any:
    """The one value `statement` returns (a count, say), on Django's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]


def timed(run: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Seconds of `repeats` calls of `run` after one warm-up call, and the warm-up's result (the answer to check)."""
    result = run()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def server_info() -> dict[str, Any]:
    from django.db import connection

    from historian.storage import sample_storage

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
            "current_setting('shared_buffers'), current_setting('synchronous_commit'), "
            "current_setting('fsync')"
        )
        version, version_num, shared_buffers, synchronous_commit, fsync = cursor.fetchone()
    return {
        "server_version": version,
        "server_version_num": version_num,
        "shared_buffers": shared_buffers,
        "synchronous_commit": synchronous_commit,
        "fsync": fsync,
        "storage_backend": sample_storage().name,
    }


def execute(statement: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement)


@dataclass(frozen=True)
class Layout:
    devices: int
    tags_per_device: int

    @property
    def registers_per_device(self) -> int:
        return 2 * self.tags_per_device

    def unit_ids(self) -> list[int]:
        return list(range(1, self.devices + 1))


def layout_plant_create(
    layout: Layout,
    period_ms: int,
    *,
    device_fields: Callable[[int], dict[str, Any]],
    tag_fields: Callable[[int, int], dict[str, Any]],
) -> tuple[int, dict[int, int]]:
    """The bench plant of `layout`: a machine and a device (`device_fields(unit)`) per unit id, each with
    tags_per_device tags (`tag_fields(unit, i)`: name, address, data type) in one scan class of `period_ms`.
    Returns the scan class id and, per device id, one of its tag ids (to time its scans)."""
    from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag

    area = Area.objects.create(site=Site.objects.create(name="Bench"), name="Bench")
    line = Line.objects.create(area=area, name="Bench")
    scan_class = ScanClass.objects.create(name="Bench", period_ms=period_ms)
    probe: dict[int, int] = {}
    for unit in layout.unit_ids():
        machine = Machine.objects.create(line=line, name=f"M{unit:03d}")
        device = Device.objects.create(host="127.0.0.1", **device_fields(unit))
        tags = []
        for i in range(layout.tags_per_device):
            fields = tag_fields(unit, i)
            tags.append(
                Tag(
                    path=f"Bench/{unit}/{fields['name']}",
                    machine=machine,
                    device=device,
                    scan_class=scan_class,
                    span_high=100.0,
                    **fields,
                )
            )
        probe[device.pk] = Tag.objects.bulk_create(tags, batch_size=5000)[0].pk
    return scan_class.pk, probe


def bench_process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process the benchmark starts on its database (and Redis), without DEBUG."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",  # DEBUG keeps every query in memory
        **(extra or {}),
    }
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    return env


class Worker:
    """A real `celery worker` process on the bench database."""

    def __init__(self, *, concurrency: int, buffer_dir: Path, log: TextIO, env: dict[str, str] | None = None) -> None:
        from config.celery import app

        env = bench_process_env(
            {"INGEST_BUFFER_PATH": str(buffer_dir / "buffer.sqlite"), "PYTHONUNBUFFERED": "1", **(env or {})}
        )
        self.app = app
        self.name = f"bench-{uuid.uuid4().hex[:8]}@localhost"
        env["CELERY_TASK_DEFAULT_QUEUE"] = self.name  # its own queue: no other worker takes the bench's polls
        app.control.purge()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", self.name, "-Q", self.name,
             "--acquisition", "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[self.name], timeout=1.0):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the celery worker did not start")

    def _processes(self) -> list[Any]:
        """The worker's main process and its pool children (psutil), those still alive."""
        import psutil

        main = psutil.Process(self.process.pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for proc in self._processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        """Resident memory of the worker's processes, summed."""
        import psutil

        total = 0
        for proc in self._processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def kill(self) -> None:
        """kill -9 of the whole worker (main process and pool children): no shutdown, no lease given back."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        process_stop(self.process, timeout=30, kill=lambda: os.killpg(self.process.pid, signal.SIGKILL))


def process_stop(process: subprocess.Popen, *, timeout: float, kill: Callable[[], None] | None = None) -> None:
    """SIGTERM, then `kill()` (default: SIGKILL to the process) if it has not exited within `timeout` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        (kill or process.kill)()
        process.wait(10)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ticks(period: float, until: float, on_tick: Callable[[int, float], None]) -> list[float]:
    """Call on_tick(k, scheduled) at t0 + k * period (wall clock) until `until`; returns the scheduled times."""
    t0 = math.ceil(time.time()) + 0.0
    scheduled = []
    k = 0
    while (at := t0 + k * period) < until:
        delay = at - time.time()
        if delay > 0:
            time.sleep(delay)
        on_tick(k, at)
        scheduled.append(at)
        k += 1
    return scheduled


def worker_phase(
    args: argparse.Namespace, layout: Layout, gateway: Any, out: TextIO, *, plant_create: Callable
) -> dict[str, Any]:
    from django.db import connection

    period = args.period_ms / 1000
    _, probe = plant_create(layout, gateway.port, args.period_ms)
    with tempfile.TemporaryDirectory() as buffer_dir, open(Path(buffer_dir) / "worker.log", "w+") as log:
        worker = Worker(concurrency=args.concurrency, buffer_dir=Path(buffer_dir), log=log)
        try:
            start = time.time()
            measure_from = start + args.warmup
            measure_to = measure_from + args.seconds
            cpu_at: dict[str, float] = {}

            def tick(k: int, at: float) -> None:  # the worker's poller ticks on its own, at the same times
                if "start" not in cpu_at and at >= measure_from:
                    cpu_at["start"] = worker.cpu_seconds()

            scheduled = ticks(period, measure_to, tick)
            time.sleep(period + 0.5)  # the last scan's polls finish
            cpu_at["end"] = worker.cpu_seconds()
            rss = worker.rss_bytes()
        finally:
            worker.stop()
            log.seek(0)
            errors = [line for line in log if "ERROR" in line or "Traceback" in line]
        poller = poller_stats(worker.name)
    measured = [at for at in scheduled if measure_from <= at < measure_to]
    window = (measured[0], measured[-1] + period)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM historian_sample WHERE time >= to_timestamp(%s) AND time < to_timestamp(%s)",
            window,
        )
        stored = cursor.fetchone()[0]
        cursor.execute(
            "SELECT tag_id, extract(epoch FROM time)::float8 FROM historian_sample "
            "WHERE tag_id = ANY(%s) AND time >= to_timestamp(%s) AND time < to_timestamp(%s)",
            [list(probe.values()), *window],
        )
        probe_times = cursor.fetchall()
    jitter_ms = []
    for _, t in probe_times:
        k = math.floor((t - measured[0]) / period + 1e-9)
        jitter_ms.append((t - (measured[0] + k * period)) * 1000)
    expected_scans = len(measured) * layout.devices
    values_per_s = stored / (window[1] - window[0])
    cpu_s = cpu_at["end"] - cpu_at["start"]
    return {
        "scans_measured": len(measured),
        "values_stored": stored,
        "values_expected": expected_scans * layout.tags_per_device,
        "values_per_s": round(values_per_s, 1),
        "scans_missed": expected_scans - len(probe_times),
        "jitter_p50_ms": round(percentile(jitter_ms, 50), 2),
        "jitter_p99_ms": round(percentile(jitter_ms, 99), 2),
        "jitter_max_ms": round(max(jitter_ms, default=math.nan), 2),
        "worker_cpu_s": round(cpu_s, 3),
        "worker_cpu_ms_per_1000_values": round(cpu_s * 1000 / (stored / 1000), 3) if stored else None,
        "worker_rss_mb": round(rss / 2**20, 1),
        "worker_rss_mb_per_10k_tags": round(rss / 2**20 * 10_000 / (layout.devices * layout.tags_per_device), 1),
        "read_p50_ms": poller.get("read_ms", {}).get("p50"),
        "read_p99_ms": poller.get("read_ms", {}).get("p99"),
        "ticks_skipped": poller.get("polls", {}).get("skipped", 0),
        "worker_errors": len(errors),
        "worker_error_lines": [e.strip()[:300] for e in errors[:10]],
    }


def poller_stats(worker_name: str) -> dict[str, Any]:
    """What the worker's poller published last (it publishes once more when it stops)."""
    from ingest.acquisition.poller import poller_stats_read

    published = [stats for owner, stats in poller_stats_read().items() if owner.startswith(f"{worker_name}:")]
    return published[0] if published else {}


def bare_figures(*, values: int, cpu_s: float, jitter_ms: Sequence[float], scan_ms: Sequence[float]) -> dict[str, Any]:
    """The baseline's figures, named alike for every protocol."""
    return {
        "bare_values_read": values,
        "bare_cpu_s": round(cpu_s, 3),
        "bare_cpu_ms_per_1000_values": round(cpu_s * 1000 / (values / 1000), 3) if values else None,
        "bare_jitter_p99_ms": round(percentile(jitter_ms, 99), 2),
        "bare_scan_p50_ms": round(percentile(scan_ms, 50), 2),  # reading every device once, over the wire
    }


def phase_result(protocol: str, layout: Layout, worker: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """An acquisition benchmark's figures for one protocol: the worker's and the bare loop's, and the ratio of their
    CPU per 1,000 values (None when either is unknown)."""
    result = {"protocol": protocol, "tags": layout.devices * layout.tags_per_device, **worker, **bare}
    worker_cpu, bare_cpu = result["worker_cpu_ms_per_1000_values"], result["bare_cpu_ms_per_1000_values"]
    result["ratio_cpu_to_bare"] = round(worker_cpu / bare_cpu, 2) if worker_cpu and bare_cpu else None
    return result


def database_arguments(parser: argparse.ArgumentParser, *, default_name: str) -> None:
    """The options every benchmark takes for its database: which server, which database, keep it or not."""
    parser.add_argument("--database-url", help="server to use (default: DATABASE_URL, else the embedded one)")
    parser.add_argument("--database-name", default=default_name, help="database to (re)create (%(default)s)")
    parser.add_argument("--keep-database", action="store_true", help="keep the database after the run")


def arguments_at_least_one(parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]) -> None:
    """Stop with argparse's usage error when any of the options `names` is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")


def bench_django_setup(args: argparse.Namespace) -> None:
    """Django set up against --database-url when given (put in the environment before the settings read it)."""
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    django_setup()


def bench_run(args: argparse.Namespace, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()` in the benchmark's own database (--database-name, --keep-database); its result and elapsed_s."""
    started = time.perf_counter()
    with bench_database(args.database_name, args.database_url, keep=args.keep_database):
        result = run()
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    return result
