"""A real TimescaleDB for the test suite: PGlite (PostgreSQL 17 + TimescaleDB 2.23 in WASM) behind `server.mjs`.

No TimescaleDB package exists for Debian bookworm or on PyPI; the npm package pinned in package.json does. Limits
(see server.mjs): every connection shares one backend session (no isolation between connections), background
jobs never run by themselves (policies run through `CALL run_job(id)`), and it is slow. Never use it for
concurrency or speed.

`MILLWRIGHT_TEST_BACKEND=timescaledb` makes config/settings/test.py call `use_timescale_harness()`, which points
DATABASE_URL at a fresh instance for the test run (see tests/conftest.py for which tests run there).
"""

from __future__ import annotations

import atexit
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.npm import npm_ci

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 60.0
# Names of the environment variables: the harness's URL is kept so that processes started by the tests (which
# read the settings again) reuse the instance rather than start their own.
URL_VAR = "MILLWRIGHT_TIMESCALE_URL"
UNAVAILABLE_VAR = "MILLWRIGHT_TIMESCALE_UNAVAILABLE"


class HarnessUnavailable(RuntimeError):
    """Node or npm is missing, or the npm package cannot be installed: tests needing the harness skip."""


class TimescaleHarness:
    """`with TimescaleHarness() as ts: psycopg.connect(ts.url)`: a fresh in-memory TimescaleDB on a free port."""

    def __init__(self, *, database: str = "millwright") -> None:
        self.database = database
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the TimescaleDB harness is not running")
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> TimescaleHarness:
        node = shutil.which("node")
        if node is None:
            raise HarnessUnavailable("node is not installed (the TimescaleDB test harness runs on Node.js 20+)")
        npm_ci(HERE, HarnessUnavailable)
        self.process = subprocess.Popen(
            [node, str(HERE / "server.mjs"), "0"],
            cwd=HERE,
            # The server exits when this pipe closes, so it never outlives a test process that was killed.
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "EXIT_ON_STDIN_CLOSE": "1"},
        )
        try:
            self.port = _wait_ready(self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self.process, self.port = self.process, None, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> TimescaleHarness:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _wait_ready(process: subprocess.Popen[bytes]) -> int:
    """The port from the server's "ready <port>" line."""
    assert process.stdout is not None
    line = b""
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the TimescaleDB harness did not start within {START_TIMEOUT:.0f} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 1)
            if not chunk:
                raise RuntimeError(f"the TimescaleDB harness exited with code {process.wait()} at start")
            line += chunk
    word, _, port = line.decode().partition(" ")
    if word != "ready":
        raise RuntimeError(f"unexpected first line from the TimescaleDB harness: {line!r}")
    return int(port)


def use_timescale_harness() -> None:
    """Point DATABASE_URL at a TimescaleDB harness: the one a parent test process started, else a new one.

    Where the harness cannot run (no Node.js), DATABASE_URL is left alone and the reason is put in
    MILLWRIGHT_TIMESCALE_UNAVAILABLE, for tests/conftest.py to skip the TimescaleDB run saying why.
    """
    if url := os.environ.get(URL_VAR):
        os.environ["DATABASE_URL"] = url
        return
    harness = TimescaleHarness()
    try:
        harness.start()
    except HarnessUnavailable as error:
        os.environ[UNAVAILABLE_VAR] = str(error)
        return
    atexit.register(_stop_at_exit, harness, os.getpid())
    os.environ[URL_VAR] = os.environ["DATABASE_URL"] = harness.url


def _stop_at_exit(harness: TimescaleHarness, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child
        harness.stop()
