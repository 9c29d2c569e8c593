"""devtools.embedded against real PostgreSQL and Redis servers, in a private state folder.

Plain functions without pytest-django's database: these tests start and stop their own servers, apart from the
suite's (which live in the default state folder under the "test" profile).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.embedded import (
    EmbeddedServiceError,
    Server,
    ensure_servers,
    server_status,
    stop_profile,
    stop_server,
    use_embedded_defaults,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def state() -> Iterator[Path]:
    # Not tmp_path: pytest makes its parents private (0700), and as root PostgreSQL runs as another user.
    root = Path(tempfile.mkdtemp(prefix="millwright-embedded-"))
    root.chmod(0o755)
    yield root
    for profile in root.iterdir():
        if profile.is_dir():
            stop_profile(profile.name, base=root)
    shutil.rmtree(root, ignore_errors=True)


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
    deadline = time.monotonic() + 10
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still runs"
        time.sleep(0.02)


def query(server: Server, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.url, connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


def test_postgres_serves_the_millwright_database_over_tcp(state: Path) -> None:
    [postgres] = ensure_servers("pg", ["postgres"], base=state)

    assert postgres.started
    assert postgres.url == f"postgres://postgres@127.0.0.1:{postgres.port}/millwright"
    [(database, address, version)] = query(
        postgres, "SELECT current_database(), host(inet_server_addr()), current_setting('server_version_num')"
    )
    assert (database, address) == ("millwright", "127.0.0.1")
    assert int(str(version)) // 10000 == 18
    assert (state / "pg" / "postgres" / "PG_VERSION").read_text().strip() == "18"


def test_postgres_data_persists_across_stop_and_start(state: Path) -> None:
    [first] = ensure_servers("pg", ["postgres"], base=state)
    with psycopg.connect(first.url) as conn:
        conn.execute("CREATE TABLE sample (tag text, value double precision)")
        conn.execute("INSERT INTO sample VALUES ('FIC-101.PV', 42.5)")

    stop_server(first)
    assert not pid_alive(first.pid)
    assert server_status("pg", base=state)["postgres"] is None

    [second] = ensure_servers("pg", ["postgres"], base=state)
    assert second.started
    assert second.pid != first.pid
    assert query(second, "SELECT tag, value FROM sample") == [("FIC-101.PV", 42.5)]


def test_a_second_call_reuses_the_running_servers(state: Path) -> None:
    started = ensure_servers("reuse", base=state)
    assert all(server.started for server in started)

    again = ensure_servers("reuse", base=state)

    assert [(s.kind, s.pid, s.port, s.started) for s in again] == [(s.kind, s.pid, s.port, False) for s in started]
    assert server_status("reuse", base=state) == {s.kind: s for s in again}


def test_another_process_reuses_the_servers_and_leaves_them_running(state: Path) -> None:
    postgres, redis_server = ensure_servers("reuse", base=state)
    script = """
        import os
        from devtools.embedded import use_embedded_defaults
        use_embedded_defaults(profile="reuse")
        print(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
    """
    result = subprocess.run(
        python(script), env=child_env(state), cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [postgres.url, redis_server.url]
    assert pid_alive(postgres.pid)
    assert pid_alive(redis_server.pid)  # it only reused them: nothing stopped at its exit


def test_redis_answers_ping_set_and_get(state: Path) -> None:
    [server] = ensure_servers("rd", ["redis"], base=state)

    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    with redis.Redis.from_url(server.url) as client:
        assert client.ping()
        client.set("millwright:test", "ok")
        assert client.get("millwright:test") == b"ok"


def test_a_crashed_process_servers_are_reused_and_dead_ones_replaced(state: Path) -> None:
    script = """
        import os
        from devtools.embedded import use_embedded_defaults
        use_embedded_defaults(profile="crash")
        print(os.environ["DATABASE_URL"], os.environ["REDIS_URL"], flush=True)
        os._exit(1)  # a crash: no atexit, so the servers it started stay up
    """
    result = subprocess.run(
        python(script), env=child_env(state), cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )
    postgres, redis_server = ensure_servers("crash", base=state)
    assert result.stdout.split() == [postgres.url, redis_server.url]
    assert not postgres.started
    assert not redis_server.started

    os.kill(postgres.pid, signal.SIGKILL)
    os.kill(redis_server.pid, signal.SIGKILL)
    wait_dead(postgres.pid)
    wait_dead(redis_server.pid)
    assert (state / "crash" / "postgres" / "postmaster.pid").exists()  # stale
    assert (state / "crash" / "redis" / "redis.pid").exists()  # stale

    new_postgres, new_redis = ensure_servers("crash", base=state)
    assert new_postgres.started
    assert new_redis.started
    assert query(new_postgres, "SELECT 1") == [(1,)]
    with redis.Redis.from_url(new_redis.url) as client:
        assert client.ping()


def test_unusable_data_folders_raise_a_clear_error(state: Path) -> None:
    (state / "bad").mkdir()
    (state / "bad" / "postgres").write_text("a file where the cluster should be")
    with pytest.raises(EmbeddedServiceError) as error:
        ensure_servers("bad", ["postgres"], base=state)
    message = str(error.value)
    assert f"{state / 'bad' / 'postgres'} exists but is not a folder" in message
    assert "set DATABASE_URL to use your own PostgreSQL server, or delete" in message

    (state / "bad" / "redis").write_text("")
    with pytest.raises(EmbeddedServiceError, match="set REDIS_URL to use your own Redis server"):
        ensure_servers("bad", ["redis"], base=state)


def test_a_cluster_of_another_postgresql_version_is_refused(state: Path) -> None:
    pgdata = state / "old" / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")

    with pytest.raises(EmbeddedServiceError, match=r"holds a PostgreSQL 16 cluster, but .* PostgreSQL 18"):
        ensure_servers("old", ["postgres"], base=state)
    assert (pgdata / "PG_VERSION").read_text() == "16\n"  # left alone


def test_servers_started_by_one_call_are_stopped_if_the_next_one_fails(state: Path) -> None:
    (state / "half" / "redis").mkdir(parents=True)
    (state / "half" / "redis" / "redis.conf").mkdir()  # cannot write the config there

    with pytest.raises(EmbeddedServiceError, match="cannot write"):
        ensure_servers("half", base=state)
    assert server_status("half", base=state) == {"postgres": None, "redis": None}


def test_nothing_starts_when_the_urls_are_set(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLWRIGHT_STATE_DIR", str(state))
    monkeypatch.setenv("DATABASE_URL", "postgres://someone@db.example:5432/millwright")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/0")

    use_embedded_defaults(profile="configured")

    assert not (state / "configured").exists()
    assert os.environ["DATABASE_URL"] == "postgres://someone@db.example:5432/millwright"


def test_concurrent_callers_share_one_set_of_servers(state: Path) -> None:
    script = """
        import os, sys
        from devtools.embedded import use_embedded_defaults
        use_embedded_defaults(profile="race")
        print(os.environ["DATABASE_URL"], os.environ["REDIS_URL"], flush=True)
        sys.stdin.read()  # stay up until the test has heard from everyone
    """
    callers = [
        subprocess.Popen(
            python(script),
            env=child_env(state),
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    urls = {caller.stdout.readline().strip() for caller in callers if caller.stdout}
    running = server_status("race", base=state)
    for caller in callers:
        caller.communicate("", timeout=60)

    assert len(urls) == 1
    assert all(caller.returncode == 0 for caller in callers)
    assert all(running.values())
    # The one caller that started them stopped them as it exited.
    assert server_status("race", base=state) == {"postgres": None, "redis": None}


def launcher(profile: str, *command: str) -> list[str]:
    return [sys.executable, "-m", "devtools.embedded", "run", "--profile", profile, "--", *command]


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
