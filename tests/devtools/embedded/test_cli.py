"""devtools/embedded/cli.py: `python -m devtools.embedded run|status|stop`, run as a user would."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from devtools.embedded import (
    ensure_servers,
    server_status,
)
from tests.devtools.embedded.support import PROJECT_DIR, child_env, launcher, pid_alive, python


def test_the_launcher_runs_a_command_with_the_urls_and_stops_the_servers(state: Path) -> None:
    script = """
        import os, sys
        import psycopg, redis
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            print(conn.execute("SELECT current_database()").fetchone()[0])
        with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
            print(client.ping())
        print(os.environ.get("DJANGO_SETTINGS_MODULE"))
        sys.exit(3)
    """
    result = subprocess.run(
        launcher("cli", *python(script)),
        env=child_env(state),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 3, result.stderr
    # Importing the config package (celery.py) must not hand the child a DJANGO_SETTINGS_MODULE.
    assert result.stdout.split() == ["millwright", "True", "None"]
    assert "DATABASE_URL=postgres://postgres@127.0.0.1:" in result.stderr
    assert "REDIS_URL=redis://127.0.0.1:" in result.stderr
    assert server_status("cli", base=state) == {"postgres": None, "redis": None}


def test_the_launcher_forwards_sigterm_then_stops_the_servers(state: Path) -> None:
    script = """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(5))
        print("ready", flush=True)
        time.sleep(60)
    """
    process = subprocess.Popen(
        launcher("sig", *python(script)),
        env=child_env(state),
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    running = server_status("sig", base=state)

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 5, stderr
    assert all(running.values())
    assert not any(pid_alive(server.pid) for server in running.values() if server)
    assert server_status("sig", base=state) == {"postgres": None, "redis": None}


def test_the_cli_reports_errors_without_a_traceback(state: Path) -> None:
    (state / "bad").mkdir()
    (state / "bad" / "postgres").write_text("")

    result = subprocess.run(
        launcher("bad", "true"),
        env=child_env(state),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("millwright embedded: ")
    assert "is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_and_stop_commands(state: Path) -> None:
    postgres, redis_server = ensure_servers("cmd", base=state)

    def cli(action: str) -> str:
        command = [sys.executable, "-m", "devtools.embedded", action, "--profile", "cmd"]
        result = subprocess.run(
            command, env=child_env(state), cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    status = cli("status")
    assert f"postgres: pid {postgres.pid}, {postgres.url}" in status
    assert f"redis: pid {redis_server.pid}, {redis_server.url}" in status

    assert f"stopped postgres (pid {postgres.pid}, port {postgres.port})" in cli("stop")
    assert server_status("cmd", base=state) == {"postgres": None, "redis": None}
    assert "postgres: not running" in cli("status")
