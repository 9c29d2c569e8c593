"""The one way this project opens Redis: every client, and the channel layer's connection options.

Why one place: redis-py's defaults changed under us (5.x had no socket timeout, 6.x and later wait 5 s), and a
timeout that suits a short GET kills a blocking read that waits as long (channels_redis' BZPOPMIN waits 5 s; with
a 5 s socket timeout an idle WebSocket consumer died every few seconds). Timeouts are chosen here, per use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
from django.conf import settings

#: Plain clients (leases, heartbeats, statistics, status hashes) issue short commands only: a Redis that does
#: not answer within this long is treated as away, and the caller falls back.
SOCKET_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0

#: channels_redis blocks up to 5 s (RedisChannelLayer.brpop_timeout) in BZPOPMIN per receive(); the socket must
#: wait longer than that, with a margin for a slow server, or the idle read raises TimeoutError and the consumer
#: (and the browser's socket) dies.
CHANNEL_LAYER_BLOCKING_SECONDS = 5.0
CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS = 3 * CHANNEL_LAYER_BLOCKING_SECONDS
#: The channel layer's pool per process and event loop (common/channel_layer.py): at most this many connections,
#: a command waits up to CHANNEL_LAYER_POOL_WAIT_SECONDS for a free one instead of failing. The live streams take
#: a handful (common/fanout.py: one group per process, not per socket); what remains per socket is joining and
#: leaving its session's group, one short command at a time.
CHANNEL_LAYER_MAX_CONNECTIONS = 32
CHANNEL_LAYER_POOL_WAIT_SECONDS = 10.0
#: A pooled connection idle this long is PINGed before use, so that one a firewall or a Redis restart dropped is
#: replaced instead of failing the next send.
HEALTH_CHECK_SECONDS = 30


def redis_client(*, url: str | None = None, socket_timeout: float = SOCKET_TIMEOUT_SECONDS) -> redis.Redis:
    """The process's client for `url` (settings.REDIS_URL by default): one connection pool per URL and timeout."""
    return _client(url or settings.REDIS_URL, socket_timeout)


@cache
def _client(url: str, socket_timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )


def channel_layer_host(url: str) -> dict[str, Any]:
    """One entry of CHANNEL_LAYERS' "hosts" (common.channel_layer passes it to BlockingConnectionPool.from_url)."""
    return {
        "address": url,
        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
        "timeout": CHANNEL_LAYER_POOL_WAIT_SECONDS,
    }


def channel_layer_sentinel_host(sentinels: list[str], master: str) -> dict[str, Any]:
    """A CHANNEL_LAYERS "hosts" entry for Redis Sentinel: `sentinels` as "host:port"; channels_redis' own
    SentinelConnectionPool finds the master named `master` and follows a failover."""
    pairs = []
    for entry in sentinels:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a sentinel is host:port, not {entry!r}")
        pairs.append((host.strip("[]"), int(port)))
    return {
        "sentinels": pairs,
        "master_name": master,
        "sentinel_kwargs": {
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        },
        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
    }
