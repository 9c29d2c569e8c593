"""Helpers of the devtools.embedded tests (the `state` fixture is in conftest.py)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import psycopg

from devtools.embedded import Server
from tests.waiting import wait_until

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent.parent


def child_env(state: Path, **extra: str) -> dict[str, str]:
    """This environment minus what the suite's own settings put there (their embedded servers' URLs)."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return {**env, "MILLWRIGHT_STATE_DIR": str(state), **extra}


def python(script: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script)]


def pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"  # zombie: dead
    except FileNotFoundError:
        return False


def wait_dead(pid: int) -> None:
    wait_until(lambda: not pid_alive(pid), timeout=10, what=f"pid {pid} to end", interval=0.02)


def query(server: Server, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.url, connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


def launcher(profile: str, *command: str) -> list[str]:
    return [sys.executable, "-m", "devtools.embedded", "run", "--profile", profile, "--", *command]
