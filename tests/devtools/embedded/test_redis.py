"""devtools/embedded/redis.py: the embedded Redis, a real server in a private state folder."""

from __future__ import annotations

from pathlib import Path

import redis

from devtools.embedded import (
    ensure_servers,
)


def test_redis_answers_ping_set_and_get(state: Path) -> None:
    [server] = ensure_servers("rd", ["redis"], base=state)

    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    with redis.Redis.from_url(server.url) as client:
        assert client.ping()
        client.set("millwright:test", "ok")
        assert client.get("millwright:test") == b"ok"
