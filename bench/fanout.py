"""Fan-out benchmark: how many logged-in browsers one web process serves, and how fast live values reach them.

    python -m devtools.embedded run --profile bench -- python -m bench.fanout [--clients 200 400] [--seconds 15]

Runs in a database of its own (`millwright_bench_fanout`, dropped and re-created, migrated) with --machines machines
of --tags tags each. For each client count N:

- Millwright: one real web process (`uvicorn config.asgi:application`, as the Procfile runs it) and, in another
  process, N WebSocket clients, each with a session of its own (an operator signed in), all opening /ws/page/ at once
  (a wall of screens after a server restart) and subscribing to every machine as the plant overview page does. This
  process then publishes --rate batches a second for --seconds through `historian.services.live.live_publish` (what
  the store calls after each poll), machines in turn; each batch carries its sequence number and the time it was
  published.
- Baseline, same run, same clients: a bare `websockets` server (no Django, no auth) holding one Redis pub/sub
  subscription and broadcasting each batch, serialised once, to the sockets subscribed to its machine; the
  publisher PUBLISHes the same batches to it.

Per run: how many clients got in, how many were dropped and why (close codes, the server log's
MaxConnectionsError), latency from publication to the client's receipt (p50/p99/max), values lost (not received
by --drain seconds after the last publication: a server that falls behind shows here too) or out of order, and the
server's CPU per 1,000 deliveries. Printed with the ratios to the baseline; the last line is one JSON
object: {"clients": {N: {...}}, "p99_ms": {N: ms}, "lost": {N: count}, "dropped": {N: count},
"cpu_ratio_to_bare": {N: ratio}, "p99_ratio_to_bare": {N: ratio}}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from bench.common import ROOT, bench_database, database_arguments, django_setup, percentile

DEFAULT_DATABASE_NAME = "millwright_bench_fanout"
BARE_CHANNEL_PREFIX = "bench.fanout."
READY_TIMEOUT_S = 120.0


# ---------------------------------------------------------------------------------------------------------------
# The clients (a process of their own: `python -m bench.fanout clients ...`)


class _Client:
    def __init__(self) -> None:
        self.subscribed = False
        self.open = False
        self.close_code: int | None = None
        self.error: str | None = None
        self.latencies_ms: list[float] = []
        self.seqs: dict[int, list[int]] = {}
        self.out_of_order = 0


async def _client_run(
    client: _Client, *, url: str, origin: str, cookie: str | None, machines: list[int], ready: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin

    headers = {"Cookie": cookie} if cookie else {}
    try:
        async with connect(
            url, additional_headers=headers, origin=Origin(origin), open_timeout=READY_TIMEOUT_S, ping_interval=None,
            max_size=None,
        ) as ws:  # fmt: skip
            client.open = True
            await ws.send(json.dumps({"action": "subscribe", "machines": machines}))
            async for raw in ws:
                now = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "subscribed" and sorted(message["machines"]) == machines:
                    client.subscribed = True
                    ready.set()
                elif kind == "samples":
                    samples = message["samples"]
                    seq, sent = int(samples[0][2]), samples[1][2]
                    client.latencies_ms.append((now - sent) * 1000)
                    seen = client.seqs.setdefault(message["machine"], [])
                    if seen and seq <= seen[-1]:
                        client.out_of_order += 1
                    seen.append(seq)
    except ConnectionClosed as exc:
        client.close_code = exc.rcvd.code if exc.rcvd else None
        client.error = f"closed {client.close_code}"
    except Exception as exc:
        client.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        client.open = False
        ready.set()


async def _clients_main(args: argparse.Namespace, cookies: list[str | None]) -> None:
    machines = sorted(int(m) for m in args.machines.split(","))
    clients = [_Client() for _ in range(args.count)]
    readies = [asyncio.Event() for _ in clients]
    tasks = [
        asyncio.ensure_future(
            _client_run(c, url=args.url, origin=args.origin, cookie=cookie, machines=machines, ready=ready)
        )
        for c, cookie, ready in zip(clients, cookies, readies, strict=True)
    ]
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), READY_TIMEOUT_S)
    ready_s = time.monotonic() - started
    print(json.dumps({"ready": sum(c.subscribed for c in clients), "ready_s": round(ready_s, 2)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the publisher is done
    await asyncio.sleep(args.drain)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(
        json.dumps(
            {
                "clients": [
                    {
                        "subscribed": c.subscribed,
                        "error": c.error,
                        "close_code": c.close_code,
                        "latencies_ms": [round(x, 2) for x in c.latencies_ms],
                        "seqs": c.seqs,
                        "out_of_order": c.out_of_order,
                    }
                    for c in clients
                ]
            }
        ),
        flush=True,
    )


# ---------------------------------------------------------------------------------------------------------------
# The baseline server (`python -m bench.fanout bare ...`): websockets + one Redis subscription, nothing else


async def _bare_main(args: argparse.Namespace) -> None:
    import redis.asyncio as aioredis
    from websockets.asyncio.server import broadcast, serve

    watchers: dict[int, set] = {}

    async def handler(ws) -> None:
        mine: list[int] = []
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("action") == "subscribe":
                    mine = sorted(int(m) for m in message["machines"])
                    for m in mine:
                        watchers.setdefault(m, set()).add(ws)
                    await ws.send(json.dumps({"type": "subscribed", "machines": mine}))
        finally:
            for m in mine:
                watchers.get(m, set()).discard(ws)

    client = aioredis.Redis.from_url(args.redis_url)
    pubsub = client.pubsub()
    await pubsub.psubscribe(BARE_CHANNEL_PREFIX + "*")
    async with serve(handler, "127.0.0.1", args.port, ping_interval=None, max_size=None):
        async for item in pubsub.listen():
            if item["type"] != "pmessage":
                continue
            machine = int(item["channel"].decode().rsplit(".", 1)[1])
            broadcast(watchers.get(machine, ()), item["data"].decode())


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


def signed_in_session_keys(user: Any, count: int) -> list[str]:
    """`count` signed-in sessions of `user` (`count` browsers after logging in): their session keys."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for _ in range(count):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        if session.session_key is None:
            raise RuntimeError("the session store created a session without a key")
        keys.append(session.session_key)
    return keys


def _session_cookies(count: int) -> list[str]:
    """`count` signed-in sessions of one operator, as `count` browsers would hold after logging in."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from accounts.services.roles import Role, user_role_assign

    user = get_user_model().objects.create_user(username="fanout-operator", password=None)
    user_role_assign(user=user, role=Role.OPERATOR)
    return [f"{settings.SESSION_COOKIE_NAME}={key}" for key in signed_in_session_keys(user, count)]


def _env() -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }


@contextlib.contextmanager
def _server(kind: str, log: IO[str]) -> Iterator[tuple[subprocess.Popen, int]]:
    from common.net import free_port, wait_for_port

    port = free_port()
    if kind == "millwright":
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning"]  # fmt: skip
    else:
        from django.conf import settings

        command = [sys.executable, "-m", "bench.fanout", "bare", "--port", str(port), "--redis-url", settings.REDIS_URL]
    process = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port("127.0.0.1", port, timeout=60, alive=lambda: process.poll() is None):
            raise RuntimeError(f"the {kind} server did not start; see {log.name}")
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _publish_millwright(machine: int, tags: Sequence[int], seq: int) -> None:
    from datetime import UTC, datetime

    from historian.sample_types import SampleRow
    from historian.services.live import live_publish, live_samples_message, machine_live_group

    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    rows = [
        SampleRow(at, tag, float(seq) if i == 0 else now if i == 1 else float(i), 192) for i, tag in enumerate(tags)
    ]
    live_publish([(machine_live_group(machine), live_samples_message(machine, rows))])


def _publish_bare(machine: int, tags: Sequence[int], seq: int) -> None:
    from common.redis import redis_client

    now = time.time()
    ms = round(now * 1000)
    values = [float(seq), now, *map(float, range(2, len(tags)))]
    samples = [[tag, ms, value, 192] for tag, value in zip(tags, values, strict=False)]
    frame = json.dumps({"type": "samples", "machine": machine, "samples": samples})
    redis_client().publish(f"{BARE_CHANNEL_PREFIX}{machine}", frame)


def _run(kind: str, *, clients: int, plant: dict[int, list[int]], cookies: list[str], args, workdir: Path) -> dict:
    machines = sorted(plant)
    publish = _publish_millwright if kind == "millwright" else _publish_bare
    cookie_file = workdir / "cookies.json"
    cookie_file.write_text(json.dumps(cookies[:clients]))
    log_path = workdir / f"{kind}-{clients}.log"
    with open(log_path, "w+") as log, _server(kind, log) as (server, port):
        client_process = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout", "clients", "--url", f"ws://127.0.0.1:{port}/ws/page/",
             "--origin", f"http://127.0.0.1:{port}", "--count", str(clients), "--cookies", str(cookie_file),
             "--machines", ",".join(map(str, machines)), "--drain", str(args.drain)],
            cwd=ROOT, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert client_process.stdin is not None
        assert client_process.stdout is not None
        try:
            ready = json.loads(client_process.stdout.readline())
            published: list[tuple[int, int]] = []
            period = 1 / args.rate
            cpu_start = _cpu_seconds(server.pid)
            spy = None
            if args.py_spy and kind == "millwright":
                spy = subprocess.Popen(
                    [args.py_spy, "record", "--pid", str(server.pid), "--duration", str(round(args.seconds)),
                     "--format", "raw", "--output", str(workdir / f"py-spy-{clients}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            t0 = time.monotonic()
            for k in range(round(args.seconds * args.rate)):
                delay = t0 + k * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                machine = machines[k % len(machines)]
                publish(machine, plant[machine], k)
                published.append((machine, k))
            time.sleep(args.drain)
            cpu_s = _cpu_seconds(server.pid) - cpu_start
            if spy is not None:
                spy.wait(30)
            client_process.stdin.write("done\n")
            client_process.stdin.flush()
            result = json.loads(client_process.stdout.readline())
        finally:
            if client_process.poll() is None:
                client_process.kill()
            client_process.wait(10)
            client_process.stdin.close()
            client_process.stdout.close()
    server_log = log_path.read_text()  # once the server has stopped: what the clients' leaving caused too
    per_client = result["clients"]
    expected: dict[int, list[int]] = {}
    for machine, seq in published:
        expected.setdefault(machine, []).append(seq)
    latencies = [x for c in per_client for x in c["latencies_ms"]]
    lost = 0
    served = 0
    for c in per_client:
        if not c["subscribed"]:
            continue
        got = {int(m): set(s) for m, s in c["seqs"].items()}
        missing = sum(len(set(seqs) - got.get(m, set())) for m, seqs in expected.items())
        lost += missing
        served += c["error"] is None and missing == 0
    deliveries = len(latencies)
    errors: dict[str, int] = {}
    for c in per_client:
        if c["error"]:
            errors[c["error"]] = errors.get(c["error"], 0) + 1
    return {
        "clients": clients,
        "subscribed": ready["ready"],
        "ready_s": ready["ready_s"],
        "served_everything": served,
        "dropped": sum(1 for c in per_client if c["error"]),
        "client_errors": errors,
        "max_connections_errors_in_log": server_log.count("MaxConnectionsError"),
        "published": len(published),
        "deliveries": deliveries,
        "deliveries_per_s": round(deliveries / args.seconds, 1),
        "lost": lost,
        "out_of_order": sum(c["out_of_order"] for c in per_client),
        "p50_ms": round(percentile(latencies, 50), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_ms_per_1000_deliveries": round(cpu_s * 1e6 / deliveries, 2) if deliveries else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role")
    clients = sub.add_parser("clients", help="(internal) the WebSocket clients")
    clients.add_argument("--url", required=True)
    clients.add_argument("--origin", required=True)
    clients.add_argument("--count", type=int, required=True)
    clients.add_argument("--cookies")
    clients.add_argument("--machines", required=True)
    clients.add_argument("--drain", type=float, default=2.0)
    bare = sub.add_parser("bare", help="(internal) the baseline server")
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--redis-url", required=True)
    parser.add_argument("--clients", type=int, nargs="+", default=[200, 400], help="client counts (%(default)s)")
    parser.add_argument("--machines", type=int, default=9, help="machines, each a group (%(default)s, the demo's)")
    parser.add_argument("--tags", type=int, default=10, help="tags per machine (%(default)s)")
    parser.add_argument("--rate", type=float, default=10.0, help="batches published per second (%(default)s)")
    parser.add_argument("--seconds", type=float, default=15.0, help="publishing time per run (%(default)s)")
    parser.add_argument("--drain", type=float, default=5.0, help="wait for stragglers after publishing (%(default)s)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--py-spy", help="path of py-spy: profile the web process while publishing (to --log-dir)")
    parser.add_argument("--log-dir", help="keep the servers' logs there (default: a temporary folder)")
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    args = parser.parse_args(argv)
    if args.role == "clients":
        cookies = json.loads(Path(args.cookies).read_text()) if args.cookies else [None] * args.count
        asyncio.run(_clients_main(args, cookies))
        return 0
    if args.role == "bare":
        asyncio.run(_bare_main(args))
        return 0

    django_setup()
    figures: dict[int, dict[str, Any]] = {}
    with (
        bench_database(args.database_name, args.database_url, keep=args.keep_database),
        tempfile.TemporaryDirectory() as tmp,
    ):
        workdir = args.log_dir or tmp
        Path(workdir).mkdir(parents=True, exist_ok=True)
        plant = _plant_create(args.machines, args.tags)
        cookies = _session_cookies(max(args.clients))
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
                    f"{n:5d} clients ratio to bare: p99 {_ratio(m['p99_ms'], b['p99_ms'])}x, CPU per delivery "
                    f"{_ratio(m['server_cpu_ms_per_1000_deliveries'], b['server_cpu_ms_per_1000_deliveries'])}x",
                    flush=True,
                )
    summary = {
        "clients": {n: runs for n, runs in figures.items()},
        "p99_ms": {n: runs["millwright"]["p99_ms"] for n, runs in figures.items()},
        "lost": {n: runs["millwright"]["lost"] for n, runs in figures.items()},
        "dropped": {n: runs["millwright"]["dropped"] for n, runs in figures.items()},
        "cpu_ratio_to_bare": {
            n: _ratio(
                runs["millwright"]["server_cpu_ms_per_1000_deliveries"],
                runs["bare"]["server_cpu_ms_per_1000_deliveries"],
            )
            for n, runs in figures.items()
            if "bare" in runs
        },
        "p99_ratio_to_bare": {
            n: _ratio(runs["millwright"]["p99_ms"], runs["bare"]["p99_ms"])
            for n, runs in figures.items()
            if "bare" in runs
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
