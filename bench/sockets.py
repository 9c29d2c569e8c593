"""What the WebSocket benchmarks share (bench/fanout.py, bench/live.py): signed-in sessions, the web process and
the bare `websockets` baseline server, the client processes, and the figures from what the clients received.

The clients run in processes of their own (`python -m bench.sockets clients ...`, several when asked): each
client opens /ws/page/ with its session cookie, sends the page's subscription messages, and records for every
`samples` frame the machine, the value of the machine's sequence tag (its value is the batch's sequence number)
and the time of receipt. The bench maps (machine, sequence) to the instant its value originated (a publication,
a PLC's value change), so that every benchmark measures latency, losses and order the same way.

The baseline (`python -m bench.sockets bare ...`): websockets and one Redis pub/sub subscription, no Django, no
auth; each frame PUBLISHed on `bench.bare.<machine>` is broadcast, as is, to the sockets subscribed to that
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.common import ROOT, percentile

BARE_CHANNEL_PREFIX = "bench.bare."
READY_TIMEOUT_S = 120.0
#: Clients per client process by default: one asyncio process parsing 1,000 sockets' frames lags behind.
CLIENTS_PER_PROCESS = 250

#: What the plant overview page sends on its socket (static/js/live.js, overview.js, glance.js).
OVERVIEW_PAGE = "overview"
LIVE_ONLY = "live"


def page_messages(page: str, machines: Sequence[int]) -> list[dict[str, Any]]:
    """The messages a page sends when its socket opens: the overview's three streams, or live values only."""
    live = {"action": "subscribe", "machines": list(machines)}
    if page == LIVE_ONLY:
        return [live]
    return [live, {"action": "overview_subscribe", "machines": list(machines)}, {"action": "snapshot"}]


# ---------------------------------------------------------------------------------------------------------------
# The clients (`python -m bench.sockets clients ...`)


class _Client:
    def __init__(self) -> None:
        self.subscribed = False
        self.error: str | None = None
        self.close_code: int | None = None
        self.receipts: list[tuple[int, int, float]] = []  # (machine, sequence, epoch seconds received)


async def _client_run(
    client: _Client,
    *,
    url: str,
    origin: str,
    cookie: str | None,
    messages: list[dict[str, Any]],
    seq_tags: dict[int, int],
    ready: asyncio.Event,
    delay: float = 0.0,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin

    machines = sorted(seq_tags)
    headers = {"Cookie": cookie} if cookie else {}
    await asyncio.sleep(delay)
    try:
        async with connect(
            url, additional_headers=headers, origin=Origin(origin), open_timeout=READY_TIMEOUT_S, ping_interval=None,
            max_size=None,
        ) as ws:  # fmt: skip
            for message in messages:
                await ws.send(json.dumps(message))
            async for raw in ws:
                now = time.time()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "samples":
                    machine = frame["machine"]
                    tag = seq_tags.get(machine)
                    for row in frame["samples"]:
                        if row[0] == tag and row[2] is not None:
                            client.receipts.append((machine, round(row[2]), now))
                elif kind == "subscribed" and sorted(frame["machines"]) == machines:
                    client.subscribed = True
                    ready.set()
    except ConnectionClosed as exc:
        client.close_code = exc.rcvd.code if exc.rcvd else None
        client.error = f"closed {client.close_code}"
    except Exception as exc:
        client.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        ready.set()


async def _clients_main(args: argparse.Namespace, cookies: list[str | None]) -> None:
    seq_tags = {int(m): int(t) for m, t in (pair.split(":") for pair in args.seq_tags.split(","))}
    messages = page_messages(args.page, sorted(seq_tags))
    clients = [_Client() for _ in cookies]
    readies = [asyncio.Event() for _ in clients]
    tasks = [
        asyncio.ensure_future(
            _client_run(
                c,
                url=args.url,
                origin=args.origin,
                cookie=cookie,
                messages=messages,
                seq_tags=seq_tags,
                ready=ready,
                delay=args.connect_over * i / len(clients),
            )
        )
        for i, (c, cookie, ready) in enumerate(zip(clients, cookies, readies, strict=True))
    ]
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), READY_TIMEOUT_S)
    ready_s = time.monotonic() - started
    print(json.dumps({"ready": sum(c.subscribed for c in clients), "ready_s": round(ready_s, 2)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the bench is done publishing
    await asyncio.sleep(args.drain)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out = [
        {
            "subscribed": c.subscribed,
            "error": c.error,
            "close_code": c.close_code,
            "receipts": [[m, s, round(t, 4)] for m, s, t in c.receipts],
        }
        for c in clients
    ]
    print(json.dumps({"clients": out}), flush=True)


class ClientProcesses:
    """N clients in `processes` processes (separate from the server), opening their sockets all at once (a wall of
    screens after a restart) or evenly over `connect_over` seconds."""

    def __init__(
        self,
        *,
        port: int,
        cookies: Sequence[str | None],
        seq_tags: Mapping[int, int],
        page: str,
        drain: float,
        workdir: Path,
        processes: int | None = None,
        connect_over: float = 0.0,
    ) -> None:
        count = len(cookies)
        processes = processes or max(1, math.ceil(count / CLIENTS_PER_PROCESS))
        share = math.ceil(count / processes)
        self.procs: list[subprocess.Popen] = []
        tags = ",".join(f"{m}:{t}" for m, t in sorted(seq_tags.items()))
        for i in range(processes):
            part = list(cookies[i * share : (i + 1) * share])
            if not part:
                break
            cookie_file = workdir / f"cookies-{i}.json"
            cookie_file.write_text(json.dumps(part))
            command = [sys.executable, "-m", "bench.sockets", "clients", "--url", f"ws://127.0.0.1:{port}/ws/page/",
                       "--origin", f"http://127.0.0.1:{port}", "--count", str(len(part)), "--cookies",
                       str(cookie_file), "--seq-tags", tags, "--page", page, "--drain", str(drain),
                       "--connect-over", str(connect_over)]  # fmt: skip
            self.procs.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=server_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )

    def ready(self) -> dict[str, Any]:
        """Wait until every client is subscribed or gave up: how many are in, and the slowest process's time."""
        lines = [json.loads(self._out(p).readline() or '{"ready": 0, "ready_s": null}') for p in self.procs]
        return {"ready": sum(x["ready"] for x in lines), "ready_s": max((x["ready_s"] or 0) for x in lines)}

    def finish(self) -> list[dict[str, Any]]:
        """Tell the clients the bench is done; every client's record, after their --drain."""
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write("done\n")
            p.stdin.flush()
        return [c for p in self.procs for c in json.loads(self._out(p).readline())["clients"]]

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            for stream in (p.stdin, p.stdout):
                if stream is not None:
                    stream.close()

    @staticmethod
    def _out(p: subprocess.Popen) -> IO[str]:
        assert p.stdout is not None
        return p.stdout


# ---------------------------------------------------------------------------------------------------------------
# The baseline server (`python -m bench.sockets bare ...`): websockets + one Redis subscription, nothing else


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
    # No permessage-deflate, as the web process runs (Procfile): the baseline pays for what Millwright pays for.
    async with serve(handler, "127.0.0.1", args.port, ping_interval=None, max_size=None, compression=None):
        async for item in pubsub.listen():
            if item["type"] != "pmessage":
                continue
            machine = int(item["channel"].decode().rsplit(".", 1)[1])
            broadcast(watchers.get(machine, ()), item["data"].decode())


def bare_publish(machine: int, frame: str) -> None:
    """Hand one browser frame of `machine` to the baseline server."""
    from common.redis import redis_client

    redis_client().publish(f"{BARE_CHANNEL_PREFIX}{machine}", frame)


# ---------------------------------------------------------------------------------------------------------------
# Sessions, the servers


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


def session_cookies(count: int, *, username: str) -> list[str]:
    """`count` signed-in sessions of one operator, as `count` browsers would hold after logging in."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from accounts.services.roles import Role, user_role_assign

    user = get_user_model().objects.create_user(username=username, password=None)
    user_role_assign(user=user, role=Role.OPERATOR)
    return [f"{settings.SESSION_COOKIE_NAME}={key}" for key in signed_in_session_keys(user, count)]


def server_env() -> dict[str, str]:
    """The environment of the bench's child processes: the bench database, the same Redis, no DEBUG."""
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


MILLWRIGHT = "millwright"
BARE = "bare"


@contextlib.contextmanager
def web_server(kind: str, log: IO[str]) -> Iterator[tuple[subprocess.Popen, int]]:
    """One web process: `uvicorn config.asgi:application` as the Procfile runs it, or the bare baseline."""
    from django.conf import settings

    from common.net import free_port, wait_for_port

    port = free_port()
    if kind == MILLWRIGHT:
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning",
                   "--ws-per-message-deflate", "false"]  # fmt: skip
    else:
        command = [sys.executable, "-m", "bench.sockets", "bare", "--port", str(port),
                   "--redis-url", settings.REDIS_URL]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=server_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port("127.0.0.1", port, timeout=READY_TIMEOUT_S, alive=lambda: process.poll() is None):
            raise RuntimeError(f"the {kind} server did not start; see {log.name}")
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def py_spy_record(py_spy: str | None, pid: int, seconds: float, output: Path) -> subprocess.Popen | None:
    """py-spy recording `pid` for `seconds` into `output` (raw, for flame graphs), when a py-spy path is given."""
    if not py_spy:
        return None
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--format", "raw",
         "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# The figures


@dataclass(frozen=True)
class Receipts:
    """What the clients received, against what was sent: `expected` (machine, sequence) -> origin time."""

    latencies_ms: list[float]
    deliveries: int
    lost: int
    out_of_order: int
    served_everything: int
    dropped: int
    errors: dict[str, int]


def receipts_figures(per_client: Sequence[dict[str, Any]], expected: Mapping[tuple[int, int], float]) -> Receipts:
    """Latency (receipt minus origin) of the first receipt of every expected value by each client; lost: expected
    values a client never received (a client that never got in, or was dropped, lost what it missed); out of
    order: a sequence below the machine's previous one."""
    latencies: list[float] = []
    lost = out_of_order = served = 0
    errors: dict[str, int] = {}
    for c in per_client:
        if c["error"]:
            errors[c["error"]] = errors.get(c["error"], 0) + 1
        got: set[tuple[int, int]] = set()
        last: dict[int, int] = {}
        for machine, seq, at in c["receipts"]:
            if seq < last.get(machine, -1):  # the same value again (a poll between two changes) is in order
                out_of_order += 1
            last[machine] = seq
            key = (machine, seq)
            origin = expected.get(key)
            if origin is not None and key not in got:
                latencies.append((at - origin) * 1000)
            got.add(key)
        missing = sum(1 for key in expected if key not in got)
        lost += missing
        served += c["error"] is None and missing == 0
    return Receipts(
        latencies_ms=latencies,
        deliveries=len(latencies),
        lost=lost,
        out_of_order=out_of_order,
        served_everything=served,
        dropped=sum(1 for c in per_client if c["error"]),
        errors=errors,
    )


def latency_figures(latencies_ms: Sequence[float], prefix: str = "") -> dict[str, float | None]:
    """p50, p99 and max of `latencies_ms` (rounded, None when empty), keys prefixed with `prefix`."""
    if not latencies_ms:
        return {f"{prefix}p50_ms": None, f"{prefix}p99_ms": None, f"{prefix}max_ms": None}
    return {
        f"{prefix}p50_ms": round(percentile(latencies_ms, 50), 2),
        f"{prefix}p99_ms": round(percentile(latencies_ms, 99), 2),
        f"{prefix}max_ms": round(max(latencies_ms), 2),
    }


def socket_bench_arguments(
    parser: argparse.ArgumentParser, *, clients: list[int], seconds: float, machines_help: str, default_name: str
) -> None:
    """The options both WebSocket benchmarks take: client counts, plant size, run length, the baseline, py-spy,
    where the logs go, and the database."""
    from bench.common import database_arguments

    parser.add_argument("--clients", type=int, nargs="+", default=clients, help="client counts (%(default)s)")
    parser.add_argument("--machines", type=int, default=9, help=f"machines, {machines_help} (%(default)s)")
    parser.add_argument("--tags", type=int, default=10, help="tags per machine, the first its sequence (%(default)s)")
    parser.add_argument("--seconds", type=float, default=seconds, help="measured time per run (%(default)s)")
    parser.add_argument("--drain", type=float, default=5.0, help="wait for stragglers after it (%(default)s)")
    parser.add_argument("--client-processes", type=int, help="client processes (default: one per 250 clients)")
    parser.add_argument(
        "--connect-over", type=float, default=0.0, help="open the sockets evenly over this long (default: at once)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--py-spy", help="path of py-spy: profile the web process while measuring (to --log-dir)")
    parser.add_argument("--log-dir", help="keep the processes' logs there (default: a temporary folder)")
    database_arguments(parser, default_name=default_name)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    clients = sub.add_parser("clients", help="WebSocket clients")
    clients.add_argument("--url", required=True)
    clients.add_argument("--origin", required=True)
    clients.add_argument("--count", type=int, required=True)
    clients.add_argument("--cookies", help="a JSON list of Cookie header values, one per client")
    clients.add_argument("--seq-tags", required=True, help="machine:tag,... (the tag whose value is the sequence)")
    clients.add_argument("--page", choices=[OVERVIEW_PAGE, LIVE_ONLY], default=OVERVIEW_PAGE)
    clients.add_argument("--drain", type=float, default=2.0)
    clients.add_argument("--connect-over", type=float, default=0.0, help="open the sockets evenly over this long")
    bare = sub.add_parser("bare", help="the baseline server")
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--redis-url", required=True)
    args = parser.parse_args(argv)
    if args.role == "clients":
        cookies = json.loads(Path(args.cookies).read_text()) if args.cookies else [None] * args.count
        asyncio.run(_clients_main(args, cookies))
    else:
        asyncio.run(_bare_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
