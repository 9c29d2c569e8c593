"""Live benchmark: a PLC's value change to hundreds of signed-in browsers, through the whole real path.

    python -m devtools.embedded run --profile bench -- python -m bench.live [--clients 200 1000] [--seconds 20]

Runs in a database of its own (`millwright_bench_live`, dropped and re-created, migrated). The path measured:

- the PLC: a Modbus TCP server of the demo's simulator (demo/simulator/modbus_server.py, one unit id per machine
  behind one gateway), --machines machines of --tags float32 tags. The first tag of a machine is its sequence:
  once per scan period, at a phase that varies from machine to machine and period to period (never within 15 % of
  a scan tick), the simulator writes the next sequence number and new values into the machine's registers and
  records the instant of that change (the stamp, kept in this process; the bench alone reads it);
- a real acquisition worker (`celery worker --acquisition`, bench/common.py's Worker) polls every machine on its
  scan class's wall-clock ticks (--period-ms), stores the values and pushes each machine's batch to its channel-layer
  group (ingest/pipeline/store.py -> historian/services/live.py);
- one web process (`uvicorn config.asgi:application`, as the Procfile runs it);
- N WebSocket clients in processes of their own (bench/sockets.py), each with a signed-in operator's session, all
  opening /ws/page/ at once and sending what the plant overview page sends (live values of every machine, the
  overview's cards, the alarm snapshot); --connect-over spreads their connects (default: a wall of screens after
  a restart, all at once).

Per delivered value: latency from the PLC's change (the stamp) to the client's receipt, p50/p99/max, and the same
"beyond the scan": minus the wait for the poller's next tick after the change (a change at c is read at the first
tick after c; that wait, half a period on average, belongs to the scan rate, not to the path). Values delivered per
second, the web process's CPU per 1,000 deliveries, values lost (acquired, i.e. stored by the worker, but not
received by a client --drain seconds after the window: a client dropped or never let in loses what it missed) or
out of order, clients dropped (and why: close codes); changes the worker never
acquired (a scan skipped) are counted apart.

Baseline, same run, same clients: a bare `websockets` server (bench/sockets.py: one Redis subscription, no Django,
no auth) broadcasting the same messages, i.e. the frames the pages received, rebuilt from the stored values of the
window, published on the same schedule; its latency is from publication to receipt and its CPU per delivery is the
ratio's denominator.

Targets (issue 17): p99 <= 250 ms beyond the scan at 200 clients, nothing lost, CPU per delivery <= 4x the bare
server; 1,000 clients as measured. The last line is one JSON object: {"p99_ms": {N: p99 beyond the scan, ms},
"lost": {N: count}, "dropped": {N: count}, "cpu_ratio_to_bare": {N: ratio}, "p99_change_to_client_ms": {N: ms},
"clients": {N: {...}}}.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import Layout, Worker, bench_database, bench_django_setup, layout_plant_create
from bench.sockets import (
    BARE,
    MILLWRIGHT,
    OVERVIEW_PAGE,
    ClientProcesses,
    bare_publish,
    cpu_seconds,
    latency_figures,
    py_spy_record,
    ratio,
    receipts_figures,
    session_cookies,
    socket_bench_arguments,
    web_server,
)

DEFAULT_DATABASE_NAME = "millwright_bench_live"
#: A change never falls within this fraction of a period of a scan tick: which scan reads it is never a race.
PHASE_MARGIN = 0.15


# ---------------------------------------------------------------------------------------------------------------
# The PLC


def _registers(seq: int, tags: int) -> list[int]:
    """A machine's holding registers at sequence `seq`: the sequence, then values that change with it."""
    values = [float(seq), *((seq * 7 + i * 13) % 1000 / 10 for i in range(1, tags))]
    return list(struct.unpack(f">{2 * tags}H", struct.pack(f">{tags}f", *values)))


class StampingPlc:
    """The demo simulator's Modbus server, serving one unit id per machine, and a thread that changes each
    machine's values once per period and stamps each change: `stamps[(unit, seq)]` = epoch seconds of the change."""

    def __init__(self, layout: Layout, period: float) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        from demo.simulator.modbus_server import ServerThread, serve_devices

        self.layout = layout
        self.period = period
        self.stamps: dict[tuple[int, int], float] = {}
        self._snapshots = {unit: _registers(0, layout.tags_per_device) for unit in layout.unit_ids()}
        self._stop = threading.Event()
        self._changer = threading.Thread(target=self._change, name="plc-changes", daemon=True)

        def device(unit: int) -> SimDevice:
            async def action(function_code, start_address, address, count, registers, set_values):
                snapshot = self._snapshots[unit]
                registers[: len(snapshot)] = snapshot
                return None

            block = SimData(0, count=layout.registers_per_device, values=0, datatype=DataType.REGISTERS)
            return SimDevice(id=unit, simdata=[block], action=action)

        devices = [device(unit) for unit in layout.unit_ids()]

        async def serve(ready):
            await serve_devices(devices, host="127.0.0.1", port=0, ready=ready)

        self.server = ServerThread(serve, name="bench-plc")

    def phase(self, unit: int, k: int) -> float:
        """Where in period k machine `unit` changes, as a fraction of the period."""
        spread = (unit * 0.618034 + k * 0.381966) % 1.0
        return PHASE_MARGIN + (1 - 2 * PHASE_MARGIN) * spread

    def _change(self) -> None:
        first = math.ceil(time.time() / self.period) + 1
        k = first
        while not self._stop.is_set():
            schedule = sorted((k * self.period + self.phase(u, k) * self.period, u) for u in self.layout.unit_ids())
            seq = k - first + 1  # small: a float32 register holds it exactly
            for at, unit in schedule:
                delay = at - time.time()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._snapshots[unit] = _registers(seq, self.layout.tags_per_device)
                self.stamps[(unit, seq)] = time.time()
            k += 1

    def __enter__(self) -> StampingPlc:
        self.server.start()
        self._changer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._changer.join(5)
        self.server.stop()

    @property
    def port(self) -> int:
        return self.server.port


# ---------------------------------------------------------------------------------------------------------------
# The bench


def _plant_create(layout: Layout, port: int, period_ms: int) -> tuple[dict[int, int], dict[int, int]]:
    """Devices (unit ids) and tags; returns unit -> machine id and machine id -> its sequence tag id."""
    from historian.models import Tag

    _, probe = layout_plant_create(
        layout,
        period_ms,
        device_fields=lambda unit: {"name": f"PLC {unit}", "port": port, "unit_id": unit},
        tag_fields=lambda unit, i: {"name": "seq" if i == 0 else f"v{i:03d}", "address": f"HR{2 * i}",
                                    "data_type": "float32"},
    )  # fmt: skip
    units: dict[int, int] = {}
    seq_tags: dict[int, int] = {}
    for tag in Tag.objects.filter(pk__in=probe.values()).select_related("device"):
        units[tag.device.unit_id] = tag.machine_id
        seq_tags[tag.machine_id] = tag.pk
    return units, seq_tags


def _acquired(seq_tags: dict[int, int], start: float, end: float) -> set[tuple[int, int]]:
    """(machine, sequence) of every sequence value the worker stored from `start` to `end` (its read times)."""
    from django.db import connection

    machine_of = {tag: machine for machine, tag in seq_tags.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tag_id, value FROM historian_sample "
            "WHERE tag_id = ANY(%s) AND time >= to_timestamp(%s) AND time < to_timestamp(%s)",
            [list(machine_of), start, end],
        )
        return {(machine_of[tag], round(value)) for tag, value in cursor.fetchall()}


def _stored_frames(machines: Sequence[int], start: float, end: float) -> list[tuple[float, int, str]]:
    """The frames the pages received in [start, end), rebuilt from the stored values: (read time, machine, frame)."""
    from django.db import connection

    from dashboards.consumers import live_frame
    from historian.sample_types import SampleRow
    from historian.services.live import live_samples_message

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.machine_id, s.time, s.tag_id, s.value, s.quality FROM historian_sample s "
            "JOIN historian_tag t ON t.id = s.tag_id "
            "WHERE t.machine_id = ANY(%s) AND s.time >= to_timestamp(%s) AND s.time < to_timestamp(%s) "
            "ORDER BY s.time, t.machine_id, s.tag_id",
            [list(machines), start, end],
        )
        batches: dict[tuple[Any, int], list[SampleRow]] = {}
        for machine, at, tag, value, quality in cursor.fetchall():
            batches.setdefault((at, machine), []).append(SampleRow(at, tag, value, quality))
    frames = []
    for (at, machine), rows in batches.items():
        frame = live_frame(live_samples_message(machine, rows))
        if frame is not None:
            frames.append((at.timestamp(), machine, frame))
    return frames


def _millwright_run(
    *, clients: int, plc: StampingPlc, units: dict[int, int], seq_tags: dict[int, int], cookies: list[str], args,
    workdir: Path,
) -> tuple[dict[str, Any], tuple[float, float]]:  # fmt: skip
    period = args.period_ms / 1000
    log_path = workdir / f"{MILLWRIGHT}-{clients}.log"
    with open(log_path, "w+") as log, web_server(MILLWRIGHT, log) as (server, port):
        client_processes = ClientProcesses(
            port=port, cookies=cookies[:clients], seq_tags=seq_tags, page=OVERVIEW_PAGE, drain=args.drain,
            workdir=workdir, processes=args.client_processes, connect_over=args.connect_over,
        )  # fmt: skip
        try:
            ready = client_processes.ready()
            start = time.time() + period  # the first change read after every client is in
            cpu_start = cpu_seconds(server.pid)
            spy = py_spy_record(args.py_spy, server.pid, args.seconds, workdir / f"py-spy-{clients}.txt")
            time.sleep(start + args.seconds - time.time())
            end = time.time()
            time.sleep(period + args.drain)  # the window's last changes are read, stored and pushed
            cpu_s = cpu_seconds(server.pid) - cpu_start
            if spy is not None:
                spy.wait(30)
            per_client = client_processes.finish()
        finally:
            client_processes.close()
    server_log = log_path.read_text()
    machine_of_unit = units
    changes = {
        (machine_of_unit[unit], seq): at for (unit, seq), at in list(plc.stamps.items()) if start <= at < end
    }  # fmt: skip
    acquired = _acquired(seq_tags, start, end + period)
    expected = {key: at for key, at in changes.items() if key in acquired}
    got = receipts_figures(per_client, expected)
    beyond = []
    for c in per_client:
        for machine, seq, at in c["receipts"]:
            changed = expected.get((machine, seq))
            if changed is not None:
                tick = math.ceil(changed / period) * period
                beyond.append((at - tick) * 1000)
    figures = {
        "clients": clients,
        "subscribed": ready["ready"],
        "ready_s": ready["ready_s"],
        "served_everything": got.served_everything,
        "dropped": got.dropped,
        "client_errors": got.errors,
        "server_errors_in_log": server_log.count("Traceback"),
        "changes": len(changes),
        "not_acquired": len(changes) - len(expected),
        "deliveries": got.deliveries,
        "deliveries_per_s": round(got.deliveries / (end - start), 1),
        "lost": got.lost,
        "out_of_order": got.out_of_order,
        **latency_figures(got.latencies_ms),
        **latency_figures(beyond, "beyond_scan_"),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_ms_per_1000_deliveries": round(cpu_s * 1e6 / got.deliveries, 2) if got.deliveries else None,
    }
    return figures, (start, end)


def _bare_run(*, clients: int, frames: list[tuple[float, int, str]], seq_tags: dict[int, int], args, workdir: Path):
    """The same frames, on the same schedule, through the bare server to the same number of clients."""
    with open(workdir / f"{BARE}-{clients}.log", "w+") as log, web_server(BARE, log) as (server, port):
        client_processes = ClientProcesses(
            port=port, cookies=[None] * clients, seq_tags=seq_tags, page=OVERVIEW_PAGE, drain=args.drain,
            workdir=workdir, processes=args.client_processes, connect_over=args.connect_over,
        )  # fmt: skip
        try:
            ready = client_processes.ready()
            published: dict[tuple[int, int], float] = {}
            first = frames[0][0] if frames else 0.0
            t0 = time.time() + 0.5
            cpu_start = cpu_seconds(server.pid)
            for at, machine, frame in frames:
                delay = t0 + (at - first) - time.time()
                if delay > 0:
                    time.sleep(delay)
                seq = next(round(row[2]) for row in json.loads(frame)["samples"] if row[0] == seq_tags[machine])
                published[(machine, seq)] = time.time()
                bare_publish(machine, frame)
            elapsed = time.time() - t0
            time.sleep(args.drain)
            cpu_s = cpu_seconds(server.pid) - cpu_start
            per_client = client_processes.finish()
        finally:
            client_processes.close()
    got = receipts_figures(per_client, published)
    return {
        "clients": clients,
        "subscribed": ready["ready"],
        "published": len(published),
        "deliveries": got.deliveries,
        "deliveries_per_s": round(got.deliveries / elapsed, 1) if elapsed > 0 else None,
        "lost": got.lost,
        "out_of_order": got.out_of_order,
        **latency_figures(got.latencies_ms),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_ms_per_1000_deliveries": round(cpu_s * 1e6 / got.deliveries, 2) if got.deliveries else None,
    }


def _machine_load() -> dict[str, Any]:
    import os

    import psutil

    return {"loadavg_1m": round(os.getloadavg()[0], 2), "cpus": psutil.cpu_count()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    socket_bench_arguments(
        parser,
        clients=[200, 1000],
        seconds=20.0,
        machines_help="one PLC unit id each",
        default_name=DEFAULT_DATABASE_NAME,
    )
    parser.add_argument("--period-ms", type=int, default=1000, help="scan period (%(default)s ms)")
    parser.add_argument("--concurrency", type=int, default=1, help="acquisition worker children (%(default)s)")
    args = parser.parse_args(argv)
    for name in ("machines", "tags", "period_ms", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(args.clients) < 1 or args.seconds <= 0 or args.drain < 0:
        parser.error("--clients must be at least 1, --seconds above 0 and --drain not negative")
    if args.tags < 2:
        parser.error("--tags must be at least 2 (the sequence and a value)")

    bench_django_setup(args)
    layout = Layout(devices=args.machines, tags_per_device=args.tags)
    period = args.period_ms / 1000
    figures: dict[int, dict[str, Any]] = {}
    load_before = _machine_load()
    with (
        bench_database(args.database_name, args.database_url, keep=args.keep_database),
        tempfile.TemporaryDirectory() as tmp,
    ):
        workdir = Path(args.log_dir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        cookies = session_cookies(max(args.clients), username="live-operator")
        with StampingPlc(layout, period) as plc, open(workdir / "worker.log", "w+") as worker_log:
            units, seq_tags = _plant_create(layout, plc.port, args.period_ms)
            worker = Worker(concurrency=args.concurrency, buffer_dir=workdir, log=worker_log)
            try:
                time.sleep(2 * period)  # the poller's first scans
                for n in args.clients:
                    run, (start, end) = _millwright_run(
                        clients=n, plc=plc, units=units, seq_tags=seq_tags, cookies=cookies, args=args, workdir=workdir
                    )
                    figures[n] = {MILLWRIGHT: run}
                    if not args.no_baseline:
                        frames = _stored_frames(sorted(seq_tags), start - period, end + period)
                        figures[n][BARE] = _bare_run(
                            clients=n, frames=frames, seq_tags=seq_tags, args=args, workdir=workdir
                        )
                    _print_run(n, figures[n])
            finally:
                worker.stop()
    load_after = _machine_load()
    print(f"machine load: 1-minute load average {load_before['loadavg_1m']} before, {load_after['loadavg_1m']} after, "
          f"{load_after['cpus']} CPUs (shared with other work)", flush=True)  # fmt: skip
    summary = {
        "p99_ms": {n: runs[MILLWRIGHT]["beyond_scan_p99_ms"] for n, runs in figures.items()},
        "lost": {n: runs[MILLWRIGHT]["lost"] for n, runs in figures.items()},
        "dropped": {n: runs[MILLWRIGHT]["dropped"] for n, runs in figures.items()},
        "cpu_ratio_to_bare": {
            n: ratio(
                runs[MILLWRIGHT]["server_cpu_ms_per_1000_deliveries"], runs[BARE]["server_cpu_ms_per_1000_deliveries"]
            )
            for n, runs in figures.items()
            if BARE in runs
        },
        "p99_change_to_client_ms": {n: runs[MILLWRIGHT]["p99_ms"] for n, runs in figures.items()},
        "machine_load": {"before": load_before, "after": load_after},
        "clients": figures,
    }
    print(json.dumps(summary))
    return 0


def _print_run(n: int, runs: dict[str, dict[str, Any]]) -> None:
    m = runs[MILLWRIGHT]
    print(
        f"{n:5d} clients millwright: subscribed {m['subscribed']} in {m['ready_s']} s, dropped {m['dropped']} "
        f"{m['client_errors'] or ''}, {m['changes']} PLC changes ({m['not_acquired']} not acquired), "
        f"lost {m['lost']}, out of order {m['out_of_order']}, {m['deliveries']} deliveries "
        f"({m['deliveries_per_s']}/s); change -> client p50 {m['p50_ms']} / p99 {m['p99_ms']} / max {m['max_ms']} ms, "
        f"beyond the scan p50 {m['beyond_scan_p50_ms']} / p99 {m['beyond_scan_p99_ms']} / max "
        f"{m['beyond_scan_max_ms']} ms; web process CPU {m['server_cpu_ms_per_1000_deliveries']} ms per 1,000",
        flush=True,
    )
    if BARE in runs:
        b = runs[BARE]
        print(
            f"{n:5d} clients bare      : subscribed {b['subscribed']}, lost {b['lost']}, out of order "
            f"{b['out_of_order']}, {b['deliveries']} deliveries ({b['deliveries_per_s']}/s); publish -> client "
            f"p50 {b['p50_ms']} / p99 {b['p99_ms']} / max {b['max_ms']} ms; server CPU "
            f"{b['server_cpu_ms_per_1000_deliveries']} ms per 1,000",
            flush=True,
        )
        print(
            f"{n:5d} clients ratio to bare: CPU per delivery "
            f"{ratio(m['server_cpu_ms_per_1000_deliveries'], b['server_cpu_ms_per_1000_deliveries'])}x",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
