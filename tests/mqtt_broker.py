"""A private Mosquitto broker on a free loopback port, for tests that must not share the system broker."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.net import free_port, wait_for_port


class MosquittoBroker:
    def __init__(self, directory: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n")
        self.log = directory / "mosquitto.log"
        self._proc: subprocess.Popen | None = None

    @staticmethod
    def executable() -> str | None:
        return shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
        )

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        exe = self.executable()
        if exe is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen([exe, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        process = self._proc
        if not wait_for_port(self.host, self.port, timeout=timeout, alive=lambda: process.poll() is None):
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-500:]}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def broker_or_skip(directory: Path) -> Iterator[MosquittoBroker]:
    """A started broker in `directory` for the fixture's life; the test is skipped where Mosquitto cannot run."""
    if MosquittoBroker.executable() is None:
        pytest.skip("no MQTT broker: mosquitto is not installed (Debian: apt-get install mosquitto)")
    server = MosquittoBroker(directory)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"no MQTT broker: {exc}")
    try:
        yield server
    finally:
        server.stop()
