"""devtools/embedded/servers.py: reusing, starting and stopping a profile's servers, across processes and
failures, against real PostgreSQL and Redis in a private state folder."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from devtools.embedded import (
    EmbeddedServiceError,
    ensure_servers,
    server_status,
    use_embedded_defaults,
)
from tests.devtools.embedded.support import PROJECT_DIR, child_env, pid_alive, python, query, wait_dead


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
