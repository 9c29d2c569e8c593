"""OPC UA acquisition benchmark: subscribed values through the project's path into the database.

    python -m bench.acquisition_opcua [--values 5000] [--scan-ms 1000] [--seconds 30] [--database-url URL]
    make bench-opcua   (or: python -m devtools.embedded run --profile bench -- python -m bench.acquisition_opcua)

An asyncua server in a subprocess (so that its CPU is not counted) serves --values Double variables and writes
a new value into every one of them every --scan-ms: the worst case, every subscribed value changes every scan.
This process, on a fresh migrated database (as bench.ingest: `millwright_opcua_bench`, dropped at the end):

  (a) baseline: a bare asyncua subscription to all the variables (sampling = --scan-ms, publishing 500 ms),
      notifications counted and dropped: what receiving alone costs;
  (b) project path: a Device with `use_subscriptions` and --values tags, run by the SubscriptionRunner of
      `manage.py run_subscriptions` (flush every 250 ms into readings_store: compression, COPY into history,
      current values, live push over the Redis channel layer, alarms), same sampling and publishing;
  (c) polled: OpcUaDriver.read of all the variables, --reads times: one Read request per 1000 nodes.

Each of (a) and (b) runs --seconds after a warm-up that waits for the first value of every item. CPU is this
process's (all its threads) over the measured window, as cores = CPU seconds / wall seconds; the database
server's own CPU is not included. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC
from typing import Any, TextIO

from bench.common import (
    Layout,
    arguments_at_least_one,
    bare_figures,
    bench_database,
    bench_django_setup,
    database_arguments,
    layout_plant_create,
    phase_result,
    process_stop,
    scalar,
    server_info,
    tags_create,
    ticks,
    worker_phase,
)

DEFAULT_DATABASE_NAME = "millwright_opcua_bench"
NAMESPACE = "urn:millwright:bench"
PUBLISHING_MS = 500
FLUSH_SECONDS = 0.25


# ----------------------------------------------------------------------------------------------------
# The server (a subprocess: python -m bench.acquisition_opcua --serve)


async def _serve(values: int, port: int, scan_ms: int, stats: str | None) -> None:
    import logging

    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(NAMESPACE)
    folder = await server.nodes.objects.add_folder(
        ua.NodeId(ua.String("Bench"), ua.Int16(ns)), ua.QualifiedName("Bench", ns)
    )
    nodes = []
    for i in range(values):
        node = await folder.add_variable(
            ua.NodeId(ua.String(f"v{i:06d}"), ua.Int16(ns)), f"v{i:06d}", 0.0, varianttype=ua.VariantType.Double
        )
        nodes.append(node.nodeid)
    await server.start()
    print("ready", flush=True)
    rng = random.Random(1)
    log = open(stats, "a", buffering=1) if stats else None  # noqa: SIM115, ASYNC230
    try:
        while True:
            started = time.monotonic()
            now = ua.DateTime.now(UTC)
            for node_id in nodes:
                dv = ua.DataValue(ua.Variant(rng.uniform(0, 100), ua.VariantType.Double), SourceTimestamp=now)
                await server.write_attribute_value(node_id, dv)
            took = time.monotonic() - started
            if log:  # one line per scan: when it ended, how long writing every value took
                log.write(f"{time.time():.3f} {took:.4f}\n")
            await asyncio.sleep(max(0.0, scan_ms / 1000 - took))
    finally:
        if log:
            log.close()
        await server.stop()


def _node_id(i: int) -> str:
    return f"ns=2;s=v{i:06d}"


class BenchServer:
    """The server subprocess; `scans(start, end)` are its (end time, seconds) per update of every value."""

    def __init__(self, values: int, scan_ms: int) -> None:
        import tempfile

        from common.net import free_port

        self.port = free_port()
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/"
        self.stats = tempfile.NamedTemporaryFile(prefix="opcua-bench-", suffix=".log", delete=False).name  # noqa: SIM115
        args = ["--serve", "--values", str(values), "--port", str(self.port), "--scan-ms", str(scan_ms)]
        args += ["--stats", self.stats]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.acquisition_opcua", *args],
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the bench OPC UA server did not start")

    def stop(self) -> None:
        process_stop(self.proc, timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(self.stats)

    def scans(self, start: float, end: float) -> list[float]:
        with open(self.stats) as log:
            rows = [line.split() for line in log if line.strip()]
        return [float(took) for at, took in rows if start <= float(at) < end]


# ----------------------------------------------------------------------------------------------------
# (a) bare asyncua subscription


async def _bare_subscription(endpoint: str, values: int, scan_ms: int, seconds: float, warmup_timeout: float) -> dict:
    from asyncua import Client, ua

    received = 0
    seen: set[int] = set()

    class Handler:
        def datachange_notification(self, node, val, data) -> None:
            nonlocal received
            received += 1
            seen.add(data.monitored_item.ClientHandle)

        def status_change_notification(self, status) -> None:
            raise RuntimeError(f"baseline subscription lost: {status}")

    async with Client(endpoint, timeout=30, watchdog_intervall=30) as client:
        subscription = await client.create_subscription(PUBLISHING_MS, Handler())
        requests = []
        for i in range(values):
            params = ua.MonitoringParameters(ClientHandle=i + 1, SamplingInterval=float(scan_ms), QueueSize=1)
            requests.append(
                ua.MonitoredItemCreateRequest(
                    ItemToMonitor=ua.ReadValueId(NodeId=ua.NodeId.from_string(_node_id(i)), AttributeId=13),
                    MonitoringMode=ua.MonitoringMode.Reporting,
                    RequestedParameters=params,
                )
            )
        for start in range(0, values, 1000):
            await subscription.create_monitored_items(requests[start : start + 1000])
        deadline = time.monotonic() + warmup_timeout
        while len(seen) < values:
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline: only {len(seen)} of {values} items reported within {warmup_timeout} s")
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * scan_ms / 1000)
        count0, cpu0, wall0, t0 = received, time.process_time(), time.perf_counter(), time.time()
        await asyncio.sleep(seconds)
        count1, cpu1, wall1, t1 = received, time.process_time(), time.perf_counter(), time.time()
        await subscription.delete()
    wall = wall1 - wall0
    return {"notifications": count1 - count0, "wall_s": wall, "cpu_s": cpu1 - cpu0, "window": (t0, t1)}


# ----------------------------------------------------------------------------------------------------
# (b) the project's path


def _device_create(endpoint: str, values: int, scan_ms: int) -> None:
    """The subscribed OPC UA device and its `values` float64 tags (see tags_create)."""
    from historian.models import Protocol

    tags_create(
        values,
        period_ms=scan_ms,
        device_fields={
            "name": "Bench OPC UA",
            "protocol": Protocol.OPCUA,
            "endpoint_url": endpoint,
            "timeout_seconds": 30,
            "use_subscriptions": True,
            "publishing_interval_ms": PUBLISHING_MS,
        },
        tag_fields=lambda i: {"name": f"v{i:06d}", "address": _node_id(i), "data_type": "float64"},
    )


def _project_path(values: int, scan_ms: int, seconds: float, warmup_timeout: float) -> dict:
    from ingest.acquisition.subscriptions import SubscriptionRunner

    runner = SubscriptionRunner(flush_seconds=FLUSH_SECONDS, reload_seconds=3600)
    runner.start()
    step_s: list[float] = []
    try:
        deadline = time.monotonic() + warmup_timeout
        while scalar("SELECT count(*) FROM historian_current_value") < values:
            if time.monotonic() > deadline:
                raise RuntimeError(f"project path: not every tag had a value within {warmup_timeout} s")
            runner.step()
            time.sleep(FLUSH_SECONDS)
        end_warmup = time.monotonic() + 2 * scan_ms / 1000
        while time.monotonic() < end_warmup:
            runner.step()
            time.sleep(FLUSH_SECONDS)
        rows0 = scalar("SELECT count(*) FROM historian_sample")
        readings = 0
        cpu0, wall0, t0 = time.process_time(), time.perf_counter(), time.time()
        end = wall0 + seconds
        while (now := time.perf_counter()) < end:
            outcome = runner.step()
            step_s.append(time.perf_counter() - now)
            readings += outcome.readings
            time.sleep(max(0.0, FLUSH_SECONDS - (time.perf_counter() - now)))
        cpu1, wall1, t1 = time.process_time(), time.perf_counter(), time.time()
        rows1 = scalar("SELECT count(*) FROM historian_sample")
    finally:
        runner.shutdown()
    return {
        "readings": readings,
        "rows": rows1 - rows0,
        "wall_s": wall1 - wall0,
        "cpu_s": cpu1 - cpu0,
        "step_ms_p50": statistics.median(step_s) * 1000 if step_s else 0.0,
        "step_ms_max": max(step_s) * 1000 if step_s else 0.0,
        "window": (t0, t1),
    }


# ----------------------------------------------------------------------------------------------------
# (c) polled reads


def _polled(endpoint: str, values: int, reads: int) -> dict:
    from ingest.protocols.base import PointRequest
    from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings

    points = [PointRequest(i, _node_id(i), "float64") for i in range(values)]
    times: list[float] = []
    with OpcUaDriver(OpcUaSettings(endpoint=endpoint, timeout=30)) as driver:
        driver.read(points[:1])  # connect
        for _ in range(reads):
            started = time.perf_counter()
            readings = driver.read(points)
            times.append(time.perf_counter() - started)
            bad = sum(1 for r in readings if r.value is None)
            if bad:
                raise RuntimeError(f"polled read: {bad} of {values} values bad")
    return {"read_ms_median": statistics.median(times) * 1000, "read_ms_max": max(times) * 1000}


# ----------------------------------------------------------------------------------------------------
# The OPC UA half of bench.acquisition: the same tags polled by the real Celery worker, next to a bare
# asyncua read loop (bench.acquisition's PROTOCOL_PHASES["opcua"] calls this).


def _opcua_plant_create(layout, port: int, period_ms: int) -> tuple[int, dict[int, int]]:
    """bench.acquisition's plant, as OPC UA devices: device d reads variables (d-1)*n .. d*n-1 of the server."""
    from historian.models import Protocol

    n = layout.tags_per_device
    return layout_plant_create(
        layout,
        period_ms,
        device_fields=lambda unit: {
            "name": f"OPC UA {unit}",
            "protocol": Protocol.OPCUA,
            "port": port,
            "timeout_seconds": 10,
        },
        tag_fields=lambda unit, i: {
            "name": f"v{i:05d}",
            "address": _node_id((unit - 1) * n + i),
            "data_type": "float64",
        },
    )


def _opcua_bare_phase(args, layout, server: BenchServer) -> dict[str, Any]:
    """The same values read with a plain asyncua client (one Read per 1000 nodes per device) on the same ticks."""
    from asyncua import Client, ua

    period = args.period_ms / 1000
    n = layout.tags_per_device
    loop = asyncio.new_event_loop()
    client = Client(server.endpoint, timeout=30, watchdog_intervall=30)
    loop.run_until_complete(client.connect())
    devices = [[client.get_node(_node_id((unit - 1) * n + i)) for i in range(n)] for unit in layout.unit_ids()]
    counts = {"values": 0}
    jitter_ms: list[float] = []
    scan_ms: list[float] = []

    async def read_all() -> None:
        for nodes in devices:
            for start in range(0, len(nodes), 1000):
                values = await client.read_attributes(nodes[start : start + 1000], ua.AttributeIds.Value)
                counts["values"] += sum(
                    1 for dv in values if dv.Value is not None and isinstance(dv.Value.Value, float)
                )

    cpu_start = time.process_time()

    def tick(k: int, at: float) -> None:
        jitter_ms.append((time.time() - at) * 1000)
        started = time.perf_counter()
        loop.run_until_complete(read_all())
        scan_ms.append((time.perf_counter() - started) * 1000)

    ticks(period, time.time() + args.bare_seconds, tick)
    cpu_s = time.process_time() - cpu_start
    loop.run_until_complete(client.disconnect())
    loop.close()
    return bare_figures(values=counts["values"], cpu_s=cpu_s, jitter_ms=jitter_ms, scan_ms=scan_ms)


def opcua_polled_phase(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    layout = Layout(devices=args.devices, tags_per_device=args.tags // args.devices)
    server = BenchServer(layout.devices * layout.tags_per_device, args.period_ms)
    try:
        worker = worker_phase(args, layout, server, out, plant_create=_opcua_plant_create)
        bare = _opcua_bare_phase(args, layout, server)
    finally:
        server.stop()
    return phase_result("opcua", layout, worker, bare)


# ----------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.acquisition_opcua", description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=5000, help="subscribed variables (%(default)s)")
    parser.add_argument("--scan-ms", type=int, default=1000, help="sampling interval = server update period")
    parser.add_argument(
        "--sampling-ms", type=int, default=None, help="monitored items' sampling interval (default: --scan-ms)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window of (a) and (b) (%(default)s)")
    parser.add_argument("--reads", type=int, default=10, help="polled reads of every variable in (c)")
    parser.add_argument("--warmup-timeout", type=float, default=120.0, help="limit for the first values (s)")
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.values, args.port, args.scan_ms, args.stats))
        return 0
    out = out or sys.stdout
    arguments_at_least_one(parser, args, ("values", "scan_ms", "reads"))
    args.sampling_ms = args.sampling_ms or args.scan_ms
    if args.scan_ms < 100 or args.sampling_ms < 100:
        parser.error("--scan-ms and --sampling-ms must be at least 100 (a scan class's shortest period)")
    bench_django_setup(args)
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)

    started = time.perf_counter()
    with bench_database(args.database_name, args.database_url, keep=args.keep_database):
        info = server_info()
        # A fresh server per phase: no monitored items left over from the other one.
        server = BenchServer(args.values, args.scan_ms)
        try:
            baseline = asyncio.run(
                _bare_subscription(server.endpoint, args.values, args.sampling_ms, args.seconds, args.warmup_timeout)
            )
            baseline["server_scans"] = server.scans(*baseline["window"])
        finally:
            server.stop()
        server = BenchServer(args.values, args.scan_ms)
        try:
            _device_create(server.endpoint, args.values, args.sampling_ms)
            project = _project_path(args.values, args.sampling_ms, args.seconds, args.warmup_timeout)
            project["server_scans"] = server.scans(*project["window"])
            polled = _polled(server.endpoint, args.values, args.reads)
        finally:
            server.stop()
    result = _figures(args, info, baseline, project, polled)
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    _report(result, out)
    return 0


def _figures(args, info: dict, baseline: dict, project: dict, polled: dict) -> dict[str, Any]:
    base_rate = baseline["notifications"] / baseline["wall_s"]
    base_cores = baseline["cpu_s"] / baseline["wall_s"]
    rate = project["readings"] / project["wall_s"]
    cores = project["cpu_s"] / project["wall_s"]

    def served(phase: dict) -> int:  # values the server wrote per second in the window
        return round(len(phase["server_scans"]) * args.values / phase["wall_s"])

    def scan_ms(phase: dict) -> float:
        return round(statistics.median(phase["server_scans"]) * 1000, 1) if phase["server_scans"] else math.nan

    return {
        **info,
        "database": args.database_name,
        "values": args.values,
        "scan_ms": args.scan_ms,
        "sampling_ms": args.sampling_ms,
        "publishing_ms": PUBLISHING_MS,
        "flush_ms": round(FLUSH_SECONDS * 1000),
        "seconds": args.seconds,
        "expected_values_per_s": round(args.values * 1000 / args.scan_ms),
        "baseline_server_values_per_s": served(baseline),
        "baseline_server_update_ms": scan_ms(baseline),
        "baseline_notifications_per_s": round(base_rate),
        "baseline_client_cores": round(base_cores, 3),
        "project_server_values_per_s": served(project),
        "project_server_update_ms": scan_ms(project),
        "project_readings_per_s": round(rate),
        "project_rows_per_s": round(project["rows"] / project["wall_s"]),
        "project_client_cores": round(cores, 3),
        "project_step_ms_p50": round(project["step_ms_p50"], 1),
        "project_step_ms_max": round(project["step_ms_max"], 1),
        "baseline_cpu_ms_per_1000_values": _per_1000(baseline["cpu_s"], baseline["notifications"]),
        "project_cpu_ms_per_1000_values": _per_1000(project["cpu_s"], project["readings"]),
        "ratio_project_to_baseline_cpu_per_value": (
            round(project["cpu_s"] / project["readings"] / (baseline["cpu_s"] / baseline["notifications"]), 2)
            if project["readings"] and baseline["notifications"] and baseline["cpu_s"]
            else None
        ),
        "ratio_project_to_baseline_cores": round(cores / base_cores, 2) if base_cores else None,
        "ratio_project_to_baseline_rate": round(rate / base_rate, 3) if base_rate else None,
        "polled_read_ms_median": round(polled["read_ms_median"], 1),
        "polled_read_ms_max": round(polled["read_ms_max"], 1),
    }


def _per_1000(cpu_s: float, values: int) -> float | None:
    return round(cpu_s * 1000 / (values / 1000), 2) if values else None


def _report(result: dict[str, Any], out: TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line(
        f"Millwright OPC UA acquisition benchmark: {result['values']:,} subscribed values, every one changing every "
        f"{result['scan_ms']} ms (sampling {result['sampling_ms']} ms, publishing {result['publishing_ms']} ms); "
        f"PostgreSQL {result['server_version']} ({result['storage_backend']} storage)"
    )
    line(f"  {'':<48}{'served/s':>12}{'received/s':>12}{'cores':>10}{'rows/s':>12}")
    line(
        f"  {'(a) bare asyncua subscription (baseline)':<48}{result['baseline_server_values_per_s']:>12,}"
        f"{result['baseline_notifications_per_s']:>12,}{result['baseline_client_cores']:>10.3f}{'-':>12}"
    )
    line(
        f"  {'(b) run_subscriptions path into the database':<48}{result['project_server_values_per_s']:>12,}"
        f"{result['project_readings_per_s']:>12,}{result['project_client_cores']:>10.3f}"
        f"{result['project_rows_per_s']:>12,}"
    )
    line(
        f"  served/s: values the server wrote (one update of all takes {result['baseline_server_update_ms']} / "
        f"{result['project_server_update_ms']} ms in (a) / (b)); received/s: notifications the client handled"
    )
    line(
        f"  CPU per 1,000 values: (a) {result['baseline_cpu_ms_per_1000_values']} ms, (b) "
        f"{result['project_cpu_ms_per_1000_values']} ms: (b) costs {result['ratio_project_to_baseline_cpu_per_value']}x"
        " per value"
    )
    line(
        f"  (b) uses {result['ratio_project_to_baseline_cores']}x the cores of (a); one flush of "
        f"{result['flush_ms']} ms worth of values takes {result['project_step_ms_p50']} ms (median), "
        f"{result['project_step_ms_max']} ms (max)"
    )
    line(
        f"  (c) one polled read of all {result['values']:,} values: {result['polled_read_ms_median']} ms (median), "
        f"{result['polled_read_ms_max']} ms (max)"
    )
    line(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
