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
import os
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from bench.common import (
    Layout,
    bare_figures,
    bench_django_setup,
    bench_run,
    database_arguments,
    layout_plant_create,
    phase_result,
    ticks,
    worker_phase,
)

DEFAULT_DATABASE_NAME = "millwright_bench_acquisition"
REGISTERS_PER_READ = 125


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
# Plant model


def plant_create(layout: Layout, port: int, period_ms: int) -> tuple[int, dict[int, int]]:
    """Modbus devices behind one gateway (unit ids 1..n), float32 tags on consecutive holding registers."""
    return layout_plant_create(
        layout,
        period_ms,
        device_fields=lambda unit: {"name": f"PLC {unit}", "port": port, "unit_id": unit},
        tag_fields=lambda unit, i: {"name": f"t{i:05d}", "address": f"HR{2 * i}", "data_type": "float32"},
    )


# ----------------------------------------------------------------------------------------------------
# Measurements


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

    ticks(period, time.time() + args.bare_seconds, tick)
    cpu_s = time.thread_time() - cpu_start
    client.close()
    return bare_figures(values=counts["values"], cpu_s=cpu_s, jitter_ms=jitter_ms, scan_ms=scan_ms)


def _modbus_phase(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    layout = Layout(devices=args.devices, tags_per_device=args.tags // args.devices)
    with Gateway(layout) as gateway:
        worker = worker_phase(args, layout, gateway, out, plant_create=plant_create)
        bare = _bare_phase(args, layout, gateway)
    return phase_result("modbus", layout, worker, bare)


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
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
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
    bench_django_setup(args)
    result = bench_run(args, lambda: PROTOCOL_PHASES[args.protocol](args, out))
    result |= {
        "period_ms": args.period_ms,
        "devices": args.devices,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        "target_values_per_s_met": result["values_per_s"] >= 0.99 * result["tags"] * 1000 / args.period_ms,
        "target_jitter_p99_met": result["jitter_p99_ms"] <= 50,
        "target_cpu_ratio_met": result["ratio_cpu_to_bare"] is not None and result["ratio_cpu_to_bare"] <= 2,
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
    line(
        f"  worker memory   RSS {result['worker_rss_mb']} MB at the end (main process and pool), "
        f"{result['worker_rss_mb_per_10k_tags']} MB per 10,000 tags polled (target <= 300)"
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
