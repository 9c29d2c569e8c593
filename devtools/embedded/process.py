"""What the embedded servers share: the state folder and its per-profile lock, the Server record, ports, and
finding and stopping a server process safely (a recycled pid is never taken for ours). No Django imports."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pwd
import re
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from common.net import free_port as _any_free_port

Kind = Literal["postgres", "redis"]


KINDS: tuple[Kind, ...] = ("postgres", "redis")


ENV_VARS: dict[Kind, str] = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
DATABASE_NAME = "millwright"


HOST = "127.0.0.1"


LOCK_TIMEOUT = 120.0


START_TIMEOUT = 60


PORT_ATTEMPTS = 3


LOG_ROTATE_BYTES = 5 * 1024 * 1024


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


def state_dir() -> Path:
    configured = os.environ.get("MILLWRIGHT_STATE_DIR") or _dotenv().get("MILLWRIGHT_STATE_DIR")
    return Path(configured).expanduser().resolve() if configured else PROJECT_DIR / ".millwright"


def configured(var: str) -> bool:
    """Whether `var` is set in the environment or in the project's .env file."""
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


def profile_path(profile: str, base: Path | None) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", profile):
        raise EmbeddedServiceError(f"invalid profile name {profile!r}: use letters, digits, '_', '.' or '-'")
    return (base.resolve() if base is not None else state_dir()) / profile


def make_dir(path: Path, advice: str) -> None:
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
def profile_lock(profile_dir: Path) -> Iterator[None]:
    advice = "set MILLWRIGHT_STATE_DIR to a writable folder, or set DATABASE_URL and REDIS_URL"
    make_dir(profile_dir, advice)
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


def free_port() -> int:
    try:
        return _any_free_port(HOST)
    except OSError as exc:
        raise EmbeddedServiceError(
            f"cannot bind a TCP port on {HOST}: {exc.strerror}; set DATABASE_URL and REDIS_URL to use your own servers"
        ) from None


def process_running(pid: int, name: str, marker: str) -> bool:
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


def terminate(pid: int, name: str, marker: str, steps: Sequence[tuple[signal.Signals, float]]) -> None:
    for signum, wait in steps:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            # Gone, not merely gone from the marker check: an exiting process has an empty command line before
            # it dies, and a caller may start a new server on the same data folder as soon as this returns.
            if not process_running(pid, name, marker) and not _same_process_alive(pid, name):
                return
            time.sleep(0.05)
    raise EmbeddedServiceError(f"cannot stop {name} (pid {pid}); kill it by hand")


def rotate_log(path: Path) -> int:
    """Keep one old log once it grows large; returns the offset where this run's output starts."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_log(path: Path, offset: int = 0, limit: int = 3000) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:]
