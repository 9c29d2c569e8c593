"""Reusing or starting a profile's servers, and stopping them: the API the settings, the launcher and the tests
use (re-exported by devtools.embedded)."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.embedded.postgres import ensure_postgres, postgres_process, stop_postgres
from devtools.embedded.process import (
    ENV_VARS,
    KINDS,
    EmbeddedServiceError,
    Kind,
    Server,
    configured,
    profile_lock,
    profile_path,
)
from devtools.embedded.redis import ensure_redis, redis_process, stop_redis


def use_embedded_defaults(*, profile: str) -> None:
    """For each of DATABASE_URL and REDIS_URL that is not set, make sure an embedded server for `profile` runs
    (reuse one already running, else start one) and set the variable in os.environ.

    Servers started here are stopped when this process exits; reused ones are left alone. A value in the
    project's .env file counts as set, because the settings read that file too.
    """
    kinds = [kind for kind in KINDS if not configured(ENV_VARS[kind])]
    if not kinds:
        return
    for server in ensure_servers(profile, kinds):
        os.environ[server.env_var] = server.url
        if server.started:
            atexit.register(_stop_at_exit, server, os.getpid())


def ensure_servers(profile: str, kinds: Sequence[Kind] = KINDS, *, base: Path | None = None) -> list[Server]:
    """Reuse or start the servers of `profile`; on failure, stop those this call started."""
    profile_dir = profile_path(profile, base)
    servers: list[Server] = []
    with profile_lock(profile_dir):
        try:
            for kind in kinds:
                ensure = ensure_postgres if kind == "postgres" else ensure_redis
                servers.append(ensure(profile_dir))
        except BaseException:
            for server in reversed(servers):
                if server.started:
                    _stop(server)
            raise
    return servers


def stop_server(server: Server) -> None:
    """Stop `server` if it still runs (not if its folder is now served by another process)."""
    with profile_lock(server.data_dir.parent):
        _stop(server)


def stop_profile(profile: str, *, base: Path | None = None) -> list[Server]:
    """Stop whatever runs for `profile`, whoever started it; returns what was stopped."""
    profile_dir = profile_path(profile, base)
    if not profile_dir.is_dir():
        return []
    stopped = []
    with profile_lock(profile_dir):
        for server in _find_servers(profile_dir).values():
            if server is not None:
                _stop(server)
                stopped.append(server)
    return stopped


def server_status(profile: str, *, base: Path | None = None) -> dict[Kind, Server | None]:
    profile_dir = profile_path(profile, base)
    return _find_servers(profile_dir) if profile_dir.is_dir() else dict.fromkeys(KINDS)


def _find_servers(profile_dir: Path) -> dict[Kind, Server | None]:
    found: dict[Kind, Server | None] = {}
    for kind in KINDS:
        data_dir = profile_dir / kind
        process = postgres_process(data_dir) if kind == "postgres" else redis_process(data_dir)
        found[kind] = Server(kind, process[0], process[1], data_dir, started=False) if process else None
    return found


def _stop(server: Server) -> None:
    (stop_postgres if server.kind == "postgres" else stop_redis)(server)


def _stop_at_exit(server: Server, owner_pid: int) -> None:
    if os.getpid() != owner_pid:  # a forked child (Celery prefork pool...) inherited the atexit hook
        return
    try:
        stop_server(server)
    except (EmbeddedServiceError, OSError) as exc:
        print(f"millwright embedded: {exc}", file=sys.stderr)
