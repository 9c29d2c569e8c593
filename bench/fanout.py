"""Fan-out benchmark: how many logged-in browsers one web process serves, and how fast live values reach them.

    python -m devtools.embedded run --profile bench -- python -m bench.fanout [--clients 200 400] [--seconds 15]

Runs in a database of its own (`millwright_bench_fanout`, dropped and re-created, migrated) with --machines machines
of --tags tags each. For each client count N:

- Millwright: one real web process (`uvicorn config.asgi:application`, as the Procfile runs it) and, in another
  process, N WebSocket clients, each with a session of its own (an operator signed in), all opening /ws/page/ at once
  (a wall of screens after a server restart) and subscribing to every machine as the plant overview page does. This
  process then publishes --rate batches a second for --seconds through `historian.services.live.live_publish` (what
  the store calls after each poll), machines in turn; each batch carries its sequence number (the value of the
  machine's first tag), and this process records when it published it.
- Baseline, same run, same clients: a bare `websockets` server (no Django, no auth) holding one Redis pub/sub
  subscription and broadcasting each batch, serialised once, to the sockets subscribed to its machine; the
  publisher PUBLISHes the same batches to it. The clients, the baseline and the figures are bench/sockets.py's.

Per run: how many clients got in, how many were dropped and why (close codes, the server log's
MaxConnectionsError), latency from publication to the client's receipt (p50/p99/max), values lost (not received
by --drain seconds after the last publication: a server that falls behind shows here too) or out of order, and the
server's CPU per 1,000 deliveries. Printed with the ratios to the baseline; the last line is one JSON
object: {"clients": {N: {...}}, "p99_ms": {N: ms}, "lost": {N: count}, "dropped": {N: count},
"cpu_ratio_to_bare": {N: ratio}, "p99_ratio_to_bare": {N: ratio}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import bench_database, django_setup
from bench.sockets import (
    LIVE_ONLY,
    MILLWRIGHT,
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

DEFAULT_DATABASE_NAME = "millwright_bench_fanout"


# ---------------------------------------------------------------------------------------------------------------
# The bench process


def _plant_create(machines: int, tags: int) -> dict[int, list[int]]:
    from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag

    site = Site.objects.create(name="Fan-out")
    area = Area.objects.create(site=site, name="Fan-out")
    line = Line.objects.create(area=area, name="Fan-out")
    device = Device.objects.create(name="Fan-out PLC", host="127.0.0.1")
    scan_class = ScanClass.objects.create(name="Fan-out", period_ms=1000)
    out: dict[int, list[int]] = {}
    for m in range(machines):
        machine = Machine.objects.create(line=line, name=f"M{m:03d}")
        created = Tag.objects.bulk_create(
            Tag(path=f"Fan-out/M{m:03d}.t{t:03d}", name=f"t{t:03d}", machine=machine, device=device,
                scan_class=scan_class, address=f"HR{2 * (m * tags + t) % 65534}")
            for t in range(tags)
        )  # fmt: skip
        out[machine.pk] = [tag.pk for tag in created]
    return out


def _publish_millwright(machine: int, tags: Sequence[int], seq: int) -> None:
    from datetime import UTC, datetime

    from historian.sample_types import SampleRow
    from historian.services.live import live_publish, live_samples_message, machine_live_group

    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    rows = [SampleRow(at, tag, float(seq) if i == 0 else float(i), 192) for i, tag in enumerate(tags)]
    live_publish([(machine_live_group(machine), live_samples_message(machine, rows))])


def _publish_bare(machine: int, tags: Sequence[int], seq: int) -> None:
    ms = round(time.time() * 1000)
    samples = [[tag, ms, float(seq) if i == 0 else float(i), 192] for i, tag in enumerate(tags)]
    bare_publish(machine, json.dumps({"type": "samples", "machine": machine, "samples": samples}))


def _run(kind: str, *, clients: int, plant: dict[int, list[int]], cookies: list[str], args, workdir: Path) -> dict:
    machines = sorted(plant)
    publish = _publish_millwright if kind == MILLWRIGHT else _publish_bare
    log_path = workdir / f"{kind}-{clients}.log"
    with open(log_path, "w+") as log, web_server(kind, log) as (server, port):
        client_processes = ClientProcesses(
            port=port, cookies=cookies[:clients], seq_tags={m: plant[m][0] for m in machines}, page=LIVE_ONLY,
            drain=args.drain, workdir=workdir, processes=args.client_processes, connect_over=args.connect_over,
        )  # fmt: skip
        try:
            ready = client_processes.ready()
            published: dict[tuple[int, int], float] = {}
            period = 1 / args.rate
            cpu_start = cpu_seconds(server.pid)
            spy = py_spy_record(args.py_spy if kind == MILLWRIGHT else None, server.pid, args.seconds,
                                workdir / f"py-spy-{clients}.txt")  # fmt: skip
            t0 = time.monotonic()
            for k in range(round(args.seconds * args.rate)):
                delay = t0 + k * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                machine = machines[k % len(machines)]
                published[(machine, k)] = time.time()
                publish(machine, plant[machine], k)
            time.sleep(args.drain)
            cpu_s = cpu_seconds(server.pid) - cpu_start
            if spy is not None:
                spy.wait(30)
            per_client = client_processes.finish()
        finally:
            client_processes.close()
    server_log = log_path.read_text()  # once the server has stopped: what the clients' leaving caused too
    got = receipts_figures(per_client, published)
    return {
        "clients": clients,
        "subscribed": ready["ready"],
        "ready_s": ready["ready_s"],
        "served_everything": got.served_everything,
        "dropped": got.dropped,
        "client_errors": got.errors,
        "max_connections_errors_in_log": server_log.count("MaxConnectionsError"),
        "published": len(published),
        "deliveries": got.deliveries,
        "deliveries_per_s": round(got.deliveries / args.seconds, 1),
        "lost": got.lost,
        "out_of_order": got.out_of_order,
        **latency_figures(got.latencies_ms),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_ms_per_1000_deliveries": round(cpu_s * 1e6 / got.deliveries, 2) if got.deliveries else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    socket_bench_arguments(
        parser,
        clients=[200, 400],
        seconds=15.0,
        machines_help="each a group, the demo's",
        default_name=DEFAULT_DATABASE_NAME,
    )
    parser.add_argument("--rate", type=float, default=10.0, help="batches published per second (%(default)s)")
    args = parser.parse_args(argv)
    django_setup()
    figures: dict[int, dict[str, Any]] = {}
    with (
        bench_database(args.database_name, args.database_url, keep=args.keep_database),
        tempfile.TemporaryDirectory() as tmp,
    ):
        workdir = args.log_dir or tmp
        Path(workdir).mkdir(parents=True, exist_ok=True)
        plant = _plant_create(args.machines, args.tags)
        cookies = session_cookies(max(args.clients), username="fanout-operator")
        for n in args.clients:
            kinds = ["millwright"] if args.no_baseline else ["millwright", "bare"]
            runs = {
                kind: _run(kind, clients=n, plant=plant, cookies=cookies, args=args, workdir=Path(workdir))
                for kind in kinds
            }
            figures[n] = runs
            for kind, run in runs.items():
                print(
                    f"{n:5d} clients {kind:10s}: subscribed {run['subscribed']} in {run['ready_s']} s, "
                    f"dropped {run['dropped']} {run['client_errors'] or ''}, lost {run['lost']}, "
                    f"out of order {run['out_of_order']}, {run['deliveries']} deliveries "
                    f"({run['deliveries_per_s']}/s), p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, "
                    f"max {run['max_ms']} ms, server CPU {run['server_cpu_ms_per_1000_deliveries']} ms per 1,000"
                    + (f", MaxConnectionsError x{run['max_connections_errors_in_log']}"
                       if run["max_connections_errors_in_log"] else ""),
                    flush=True,
                )  # fmt: skip
            if "bare" in runs:
                m, b = runs["millwright"], runs["bare"]
                print(
                    f"{n:5d} clients ratio to bare: p99 {ratio(m['p99_ms'], b['p99_ms'])}x, CPU per delivery "
                    f"{ratio(m['server_cpu_ms_per_1000_deliveries'], b['server_cpu_ms_per_1000_deliveries'])}x",
                    flush=True,
                )
    summary = {
        "clients": {n: runs for n, runs in figures.items()},
        "p99_ms": {n: runs["millwright"]["p99_ms"] for n, runs in figures.items()},
        "lost": {n: runs["millwright"]["lost"] for n, runs in figures.items()},
        "dropped": {n: runs["millwright"]["dropped"] for n, runs in figures.items()},
        "cpu_ratio_to_bare": {
            n: ratio(
                runs["millwright"]["server_cpu_ms_per_1000_deliveries"],
                runs["bare"]["server_cpu_ms_per_1000_deliveries"],
            )
            for n, runs in figures.items()
            if "bare" in runs
        },
        "p99_ratio_to_bare": {
            n: ratio(runs["millwright"]["p99_ms"], runs["bare"]["p99_ms"])
            for n, runs in figures.items()
            if "bare" in runs
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
