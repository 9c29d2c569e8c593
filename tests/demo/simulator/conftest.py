"""The simulator's command line in a process of its own, for the tests of `python -m demo.simulator`."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def simulator() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """`simulator(*args)`: `python -m demo.simulator --host 127.0.0.1 *args`, its output piped; killed if still
    running when the test ends."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo.simulator", "--host", "127.0.0.1", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps it and closes its pipes
