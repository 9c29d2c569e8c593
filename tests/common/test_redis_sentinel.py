"""The channel layer through Redis Sentinel (CHANNEL_LAYER_SENTINELS, common.redis.channel_layer_sentinel_host):
a real master, a real replica and a real sentinel (the redis-server binary in sentinel mode); messages pass before
and after the sentinel fails the master over to the replica."""

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
import redis

from common.channel_layer import RedisChannelLayer
from common.net import free_port
from common.redis import channel_layer_sentinel_host
from tests.redis_server import PrivateRedis
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
MASTER = "millwright"


@pytest.fixture
def sentinel_setup(tmp_path) -> Iterator[tuple[PrivateRedis, PrivateRedis, int]]:
    (tmp_path / "master").mkdir()
    (tmp_path / "replica").mkdir()
    master = PrivateRedis(tmp_path / "master").start()
    replica = PrivateRedis(tmp_path / "replica").start()
    _ask(replica.port, redis.Redis.replicaof, "127.0.0.1", master.port)
    port = free_port()
    config = tmp_path / "sentinel.conf"  # the sentinel rewrites it: a file of its own
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
    )
    log = (tmp_path / "sentinel.log").open("wb")
    process = subprocess.Popen(
        [str(PrivateRedis.executable()), str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def replica_known() -> bool:
            try:
                return bool(_ask(port, redis.Redis.sentinel_slaves, MASTER))
            except redis.RedisError:
                return False

        wait_until(replica_known, timeout=30, what="the sentinel seeing the master and its replica")
        yield master, replica, port
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        replica.stop()
        master.stop()


async def _round_trip(host: dict, text: str) -> dict:
    layer = RedisChannelLayer(hosts=[host])
    try:
        channel = await layer.new_channel()
        await layer.group_add("machine.1", channel)
        await layer.group_send("machine.1", {"type": "samples", "text": text})
        return await asyncio.wait_for(layer.receive(channel), 10)
    finally:
        # channels_redis closes the master's connections, not the pool's own clients of the sentinels (a web
        # process keeps its layer for its life; a test ends the loop, and warnings are errors).
        sentinels = [
            client
            for loop_layer in layer._layers.values()
            for connection in loop_layer._connections.values()
            for client in connection.connection_pool.sentinel_manager.sentinels
        ]
        await layer.close_pools()
        for client in sentinels:
            await client.aclose()


def _ask(port: int, command, *args):
    with redis.Redis(port=port) as client:
        return command(client, *args)


def test_the_channel_layer_finds_the_master_through_the_sentinel_and_follows_its_failover(sentinel_setup):
    master, replica, sentinel_port = sentinel_setup
    host = channel_layer_sentinel_host([f"127.0.0.1:{sentinel_port}"], MASTER)

    before = asyncio.run(_round_trip(host, "before"))
    assert before["text"] == "before"
    assert _ask(master.port, redis.Redis.exists, "asgi:group:machine.1")

    master.stop()

    def promoted() -> bool:
        state = _ask(sentinel_port, redis.Redis.sentinel_master, MASTER)
        healthy = state["is_master"] and not (state["is_sdown"] or state["is_odown"])
        return healthy and state["port"] == replica.port

    wait_until(promoted, timeout=60, what="the sentinel promoting the replica")
    after = asyncio.run(_round_trip(host, "after"))

    assert after["text"] == "after"
    assert _ask(replica.port, redis.Redis.exists, "asgi:group:machine.1")


def test_a_sentinel_is_host_and_port():
    with pytest.raises(ValueError, match="host:port"):
        channel_layer_sentinel_host(["sentinel-a"], MASTER)
    assert channel_layer_sentinel_host(["[::1]:26379", "s-b:26380"], MASTER)["sentinels"] == [
        ("::1", 26379),
        ("s-b", 26380),
    ]
