"""Acquisition benchmark: polled tags through the real Celery path into the database, next to a bare protocol loop.

    python -m bench.acquisition [--tags 10000] [--devices 10] [--seconds 30] [--concurrency 2]
    make bench BENCH_ARGS=...   (bench.ingest); this one: python -m devtools.embedded run --profile bench --
                                python -m bench.acquisition

Runs in a database of its own (`millwright_bench_acquisition`, dropped and re-created, migrated; dropped at the end
unless --keep-database) on the server of DATABASE_URL (or --database-url), like bench.ingest.

Modbus phase:
  * a Modbus TCP gateway in this process serves --devices unit ids, each with --tags / --devices float32 values
    in consecutive holding registers (values change every second, so every poll stores every tag);
  * one real `celery worker --acquisition` process (prefork, --concurrency children) polls them: its poller
    (ingest/acquisition/poller.py) reads each device on the scan's wall-clock ticks (multiples of --period-ms from
    the epoch), which are the scheduled times the jitter is measured against;
  * after --warmup seconds, --seconds are measured: values stored per second (rows in historian_sample), scan
    jitter (the time a device's read started, which is the sample time, minus the scheduled tick; p50/p99
    over every device and scan), scans missed (a device with no sample for a tick: its tick skipped because
    the previous poll still ran), and the worker's CPU time (main process and children) per 1,000 values
    stored; the poller's own figures (read durations, first request to last response; ticks skipped) come
    from the statistics it publishes in Redis;
  * then, with the worker stopped, a bare pymodbus loop reads the same registers in the same requests on the same
    schedule for --bare-seconds and decodes them: its CPU time per 1,000 values is the baseline.

The OPC UA half goes in PROTOCOL_PHASES as "opcua": serve the same number of variables from
demo/simulator/opcua_server.py, create Device(protocol="opcua") rows, run the same worker measurement, and use
a bare asyncua read loop as its baseline; the figures and the JSON keys are the same, per protocol.

Targets (issue 4): a 1 s scan of 10,000 tags on one worker of a 2-core machine, p99 jitter <= 50 ms, CPU per
1,000 values <= 2x the bare protocol loop. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bench.ingest import _bench_database, _django_setup

DEFAULT_DATABASE_NAME = "millwright_bench_acquisition"
ROOT = Path(__file__).resolve().parent.parent
REGISTERS_PER_READ = 125


@dataclass(frozen=True)
class Layout:
    devices: int
    tags_per_device: int

    @property
    def registers_per_device(self) -> int:
        return 2 * self.tags_per_device

    def unit_ids(self) -> list[int]:
        return list(range(1, self.devices + 1))


# ----------------------------------------------------------------------------------------------------
# The gateway


class Gateway:
    """A pymodbus server in a thread: one unit id per device, float32 values that change every second."""

    def __init__(self, layout: Layout) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        from demo.simulator.modbus_server import ServerThread, serve_devices

        size = layout.registers_per_device

        async def action(function_code, start_address, address, count, registers, set_values):
            second = int(time.time())
            for i in range(address - start_address, address - start_address + count, 2):
                if i + 1 < len(registers):
                    hi, lo = struct.unpack(">HH", struct.pack(">f", (i * 7 + second) % 1000 / 10))
                    registers[i], registers[i + 1] = hi, lo
            return None

        devices = [
            SimDevice(
                id=unit,
                simdata=[SimData(0, count=size, values=0, datatype=DataType.REGISTERS)],
                action=action,
            )
            for unit in layout.unit_ids()
        ]

        async def serve(ready):
            await serve_devices(devices, host="127.0.0.1", port=0, ready=ready)

        self.thread = ServerThread(serve, name="bench-gateway")

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.thread.stop()

    @property
    def port(self) -> int:
        return self.thread.port


# ----------------------------------------------------------------------------------------------------
# Plant model and worker


def _plant_create(layout: Layout, port: int, period_ms: int) -> tuple[int, dict[int, int]]:
    """Devices and tags; returns the scan class id and, per device id, one of its tag ids (to time its scans)."""
    from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag

    site = Site.objects.create(name="Bench")
    area = Area.objects.create(site=site, name="Bench")
    line = Line.objects.create(area=area, name="Bench")
    scan_class = ScanClass.objects.create(name="Bench", period_ms=period_ms)
    probe: dict[int, int] = {}
    for unit in layout.unit_ids():
        machine = Machine.objects.create(line=line, name=f"M{unit:03d}")
        device = Device.objects.create(name=f"PLC {unit}", host="127.0.0.1", port=port, unit_id=unit)
        tags = Tag.objects.bulk_create(
            [
                Tag(
                    path=f"Bench/{unit}/t{i:05d}",
                    name=f"t{i:05d}",
                    machine=machine,
                    device=device,
                    scan_class=scan_class,
                    address=f"HR{2 * i}",
                    data_type="float32",
                    span_high=100.0,
                )
                for i in range(layout.tags_per_device)
            ],
            batch_size=5000,
        )
        probe[device.pk] = tags[0].pk
    return scan_class.pk, probe


class Worker:
    """A real `celery worker` process on the bench database, in a process group of its own (kill: all of it)."""

    def __init__(self, *, concurrency: int, buffer_dir: Path, log: TextIO, env: dict[str, str] | None = None) -> None:
        from django.conf import settings
        from django.db import connection

        from config.celery import app

        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "DEBUG": "0",  # DEBUG keeps every query in memory
            "INGEST_BUFFER_PATH": str(buffer_dir / "buffer.sqlite"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
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

    def cpu_seconds(self) -> float:
        import psutil

        main = psutil.Process(self.process.pid)
        total = 0.0
        for proc in [main, *main.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def kill(self) -> None:
        """kill -9 of the whole worker (main process and pool children): no shutdown, no lease given back."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


# ----------------------------------------------------------------------------------------------------
# Measurements


def _percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _ticks(period: float, until: float, on_tick: Callable[[int, float], None]) -> list[float]:
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


def _worker_phase(
    args: argparse.Namespace, layout: Layout, gateway: Any, out: TextIO, *, plant_create: Callable = _plant_create
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

            scheduled = _ticks(period, measure_to, tick)
            time.sleep(period + 0.5)  # the last scan's polls finish
            cpu_at["end"] = worker.cpu_seconds()
        finally:
            worker.stop()
            log.seek(0)
            errors = [line for line in log if "ERROR" in line or "Traceback" in line]
        poller = _poller_stats(worker.name)
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
        "jitter_p50_ms": round(_percentile(jitter_ms, 50), 2),
        "jitter_p99_ms": round(_percentile(jitter_ms, 99), 2),
        "jitter_max_ms": round(max(jitter_ms, default=math.nan), 2),
        "worker_cpu_s": round(cpu_s, 3),
        "worker_cpu_ms_per_1000_values": round(cpu_s * 1000 / (stored / 1000), 3) if stored else None,
        "read_p50_ms": poller.get("read_ms", {}).get("p50"),
        "read_p99_ms": poller.get("read_ms", {}).get("p99"),
        "ticks_skipped": poller.get("polls", {}).get("skipped", 0),
        "worker_errors": len(errors),
        "worker_error_lines": [e.strip()[:300] for e in errors[:10]],
    }


def _poller_stats(worker_name: str) -> dict[str, Any]:
    """What the worker's poller published last (it publishes once more when it stops)."""
    from ingest.acquisition.poller import poller_stats_read

    published = [stats for owner, stats in poller_stats_read().items() if owner.startswith(f"{worker_name}:")]
    return published[0] if published else {}


def _bare_phase(args: argparse.Namespace, layout: Layout, gateway: Gateway) -> dict[str, Any]:
    """The same reads (125-register requests per unit id, decoded to floats) with a plain pymodbus client."""
    from pymodbus.client import ModbusTcpClient

    period = args.period_ms / 1000
    client = ModbusTcpClient("127.0.0.1", port=gateway.port, timeout=5, retries=0)
    client.connect()
    size = layout.registers_per_device
    blocks = [(s, min(REGISTERS_PER_READ - 1, size - s)) for s in range(0, size, REGISTERS_PER_READ - 1)]
    counts = {"values": 0}
    jitter_ms: list[float] = []
    scan_ms: list[float] = []
    cpu_start = time.thread_time()

    def tick(k: int, at: float) -> None:
        jitter_ms.append((time.time() - at) * 1000)
        started = time.perf_counter()
        for unit in layout.unit_ids():
            for start, count in blocks:  # float32 pairs never straddle two requests (124 = 62 values)
                registers = client.read_holding_registers(start, count=count, device_id=unit).registers
                raw = struct.pack(f">{len(registers)}H", *registers)
                counts["values"] += len(struct.unpack(f">{len(registers) // 2}f", raw))
        scan_ms.append((time.perf_counter() - started) * 1000)

    _ticks(period, time.time() + args.bare_seconds, tick)
    cpu_s = time.thread_time() - cpu_start
    client.close()
    return bare_figures(values=counts["values"], cpu_s=cpu_s, jitter_ms=jitter_ms, scan_ms=scan_ms)


def bare_figures(*, values: int, cpu_s: float, jitter_ms: Sequence[float], scan_ms: Sequence[float]) -> dict[str, Any]:
    """The baseline's figures, named alike for every protocol."""
    return {
        "bare_values_read": values,
        "bare_cpu_s": round(cpu_s, 3),
        "bare_cpu_ms_per_1000_values": round(cpu_s * 1000 / (values / 1000), 3) if values else None,
        "bare_jitter_p99_ms": round(_percentile(jitter_ms, 99), 2),
        "bare_scan_p50_ms": round(_percentile(scan_ms, 50), 2),  # reading every device once, over the wire
    }


def _modbus_phase(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    layout = Layout(devices=args.devices, tags_per_device=args.tags // args.devices)
    with Gateway(layout) as gateway:
        worker = _worker_phase(args, layout, gateway, out)
        bare = _bare_phase(args, layout, gateway)
    result = {"protocol": "modbus", "tags": layout.devices * layout.tags_per_device, **worker, **bare}
    if result["worker_cpu_ms_per_1000_values"] and result["bare_cpu_ms_per_1000_values"]:
        result["ratio_cpu_to_bare"] = round(
            result["worker_cpu_ms_per_1000_values"] / result["bare_cpu_ms_per_1000_values"], 2
        )
    else:
        result["ratio_cpu_to_bare"] = None
    return result


def _opcua_phase(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    from bench.acquisition_opcua import opcua_polled_phase  # its server, plant and bare asyncua loop

    return opcua_polled_phase(args, out)


#: One entry per protocol. OPC UA subscriptions (pushed, not polled) have their own bench: bench.acquisition_opcua.
PROTOCOL_PHASES: dict[str, Callable[[argparse.Namespace, TextIO], dict[str, Any]]] = {
    "modbus": _modbus_phase,
    "opcua": _opcua_phase,
}


# ----------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.acquisition", description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOL_PHASES), default="modbus")
    parser.add_argument("--tags", type=int, default=10_000, help="tags polled (%(default)s)")
    parser.add_argument("--devices", type=int, default=10, help="unit ids behind the gateway (%(default)s)")
    parser.add_argument("--period-ms", type=int, default=1000, help="scan period (%(default)s ms)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time (%(default)s s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="scans before measuring (%(default)s s)")
    parser.add_argument("--bare-seconds", type=float, default=10.0, help="bare loop time (%(default)s s)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes (%(default)s)")
    parser.add_argument("--database-url", help="server to use (default: DATABASE_URL, else the embedded one)")
    parser.add_argument("--database-name", default=DEFAULT_DATABASE_NAME, help="database to (re)create")
    parser.add_argument("--keep-database", action="store_true", help="keep the database after the run")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if args.tags < args.devices or args.devices < 1:
        parser.error("--tags must be at least --devices, and --devices at least 1")
    if args.tags // args.devices * 2 > 65536:
        parser.error("at most 32,768 float32 tags per device")
    if args.period_ms < 100 or args.seconds < args.period_ms / 1000 or args.concurrency < 1:
        parser.error("--period-ms must be >= 100, --seconds at least one period, --concurrency >= 1")
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    _django_setup()
    started = time.perf_counter()
    with _bench_database(args.database_name, args.database_url, keep=args.keep_database):
        result = PROTOCOL_PHASES[args.protocol](args, out)
    result |= {
        "period_ms": args.period_ms,
        "devices": args.devices,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        "target_values_per_s_met": result["values_per_s"] >= 0.99 * result["tags"] * 1000 / args.period_ms,
        "target_jitter_p99_met": result["jitter_p99_ms"] <= 50,
        "target_cpu_ratio_met": result["ratio_cpu_to_bare"] is not None and result["ratio_cpu_to_bare"] <= 2,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    _report(result, out)
    return 0


def _report(result: dict[str, Any], out: TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line(
        f"{result['protocol']}: {result['tags']:,} tags on {result['devices']} devices, "
        f"{result['period_ms']} ms scan, worker concurrency {result['concurrency']} on {result['cpu_count']} CPUs"
    )
    line(
        f"  stored          {result['values_per_s']:>12,.0f} values/s "
        f"({result['values_stored']:,} of {result['values_expected']:,}; {result['scans_missed']} scans missed)"
    )
    line(
        f"  scan jitter     p50 {result['jitter_p50_ms']:.1f} ms, p99 {result['jitter_p99_ms']:.1f} ms, "
        f"max {result['jitter_max_ms']:.1f} ms (read start = sample time - scheduled tick)"
    )
    if result.get("read_p50_ms") is not None:
        line(
            f"  device reads    p50 {result['read_p50_ms']:.1f} ms, p99 {result['read_p99_ms']:.1f} ms "
            f"(first request to last response, all devices at once); ticks skipped: {result['ticks_skipped']}"
        )
    line(
        f"  worker CPU      {result['worker_cpu_ms_per_1000_values']} ms per 1,000 values; "
        f"bare {'asyncua' if result['protocol'] == 'opcua' else 'pymodbus'} loop "
        f"{result['bare_cpu_ms_per_1000_values']} ms: ratio {result['ratio_cpu_to_bare']}x"
    )
    targets = ", ".join(
        f"{name} {'met' if result[f'target_{name}_met'] else 'NOT met'}"
        for name in ("values_per_s", "jitter_p99", "cpu_ratio")
    )
    line(f"  bare loop       one scan of every device takes {result['bare_scan_p50_ms']:.1f} ms (p50)")
    line(f"  targets         {targets}")
    if result["worker_errors"]:
        line(f"  the worker logged {result['worker_errors']} errors:")
        for error in result.get("worker_error_lines", []):
            line(f"    {error}")
    line(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
