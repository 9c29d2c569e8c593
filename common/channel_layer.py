"""The project's channel layer: channels_redis' RedisChannelLayer on a bounded connection pool that waits.

channels_redis opens its pool with redis-py's ConnectionPool, which raises MaxConnectionsError ("Too many
connections") as soon as 100 commands are in flight at once, instead of waiting for a connection to come back. Every
command a socket's connect or disconnect issues (joining and leaving its session's group) takes one, and a burst of
browsers (a wall of screens after a server restart, all of them leaving at once) put more than 100 in flight: from
the 101st on, sockets were closed with that error, and the ones leaving stayed in their groups. Here the pool is a
BlockingConnectionPool: at most `max_connections` (common/redis.py), a command waits up to `timeout` seconds for
a free one.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis import asyncio as aioredis


class RedisChannelLayer(_RedisChannelLayer):
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "address" not in host:  # sentinels or host/port entries: channels_redis' own pool
            return super().create_pool(index)
        return aioredis.BlockingConnectionPool.from_url(host.pop("address"), **host)
