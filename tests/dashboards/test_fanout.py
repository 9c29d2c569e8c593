"""Hundreds of signed-in browsers on one web process (issue 17): a real uvicorn process, real sessions, the Redis
channel layer, and the process's one fan-out (common/fanout.py).

Before it, every socket's connect and disconnect ran its own group commands on channels_redis' pool, which refuses
the 101st command in flight: from about the 101st browser of a burst on, sockets were closed with
MaxConnectionsError.
"""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from websockets.asyncio.client import connect

from accounts.services.sessions import session_sockets_group
from bench.sockets import signed_in_session_keys
from common.net import free_port, wait_for_port
from common.redis import redis_client
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.live import live_publish, live_samples_message, machine_live_group
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow]

SOCKETS = 150
ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def web_process(transactional_db, tmp_path):
    """`uvicorn config.asgi:application` as the Procfile runs it, on the test database and the test Redis."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    log = open(tmp_path / "uvicorn.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert wait_for_port("127.0.0.1", port, timeout=60, alive=lambda: process.poll() is None), "uvicorn died"
        yield port, log
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:  # it waits for its application's tasks (seen before the fan-out too)
            process.kill()
            process.wait(5)
        finally:
            log.close()


async def _browser(port: int, session_key: str, machine_id: int, subscribed: asyncio.Event, all_in: asyncio.Event):
    """One overview page's socket: subscribe, then read until a batch of samples arrives (returned)."""
    async with connect(
        f"ws://127.0.0.1:{port}/ws/page/",
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"},
        origin=f"http://127.0.0.1:{port}",
        open_timeout=60,
    ) as ws:
        await ws.send(json.dumps({"action": "subscribe", "machines": [machine_id]}))
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "subscribed":
                subscribed.set()
                await all_in.wait()
            elif message["type"] == "samples":
                return message
    raise AssertionError("closed before a live value arrived")


def test_one_web_process_serves_150_signed_in_sockets_and_each_receives_a_live_value(
    web_process, make_user, machine, machine_tags
):
    port, log = web_process
    session_keys = signed_in_session_keys(make_user("operator"), SOCKETS)
    group = machine_live_group(machine.pk)

    async def scenario():
        subscribed = [asyncio.Event() for _ in session_keys]
        all_in = asyncio.Event()
        browsers = [
            asyncio.ensure_future(_browser(port, key, machine.pk, event, all_in))
            for key, event in zip(session_keys, subscribed, strict=True)
        ]
        waiting = asyncio.ensure_future(asyncio.gather(*(event.wait() for event in subscribed)))
        done, _ = await asyncio.wait([waiting, *browsers], timeout=120, return_when=asyncio.FIRST_COMPLETED)
        assert waiting in done, [b.exception() for b in browsers if b.done()][:3]
        # One member per process in the machine's group, not one per socket.
        members = await asyncio.to_thread(redis_client().zcard, f"asgi:group:{group}")
        all_in.set()
        rows = [SampleRow(timezone.now(), machine_tags[0].pk, 42.5, Quality.GOOD)]
        await asyncio.to_thread(live_publish, [(group, live_samples_message(machine.pk, rows))])
        return members, await asyncio.wait_for(asyncio.gather(*browsers), 60)

    members, received = asyncio.run(scenario())  # then every socket is closed at once
    redis = redis_client()
    session_groups = [f"asgi:group:{session_sockets_group(key)}" for key in session_keys]
    wait_until(
        lambda: not any(redis.exists(*session_groups[i : i + 50]) for i in range(0, SOCKETS, 50)),
        timeout=60,
        what="every closed socket to leave its session's group",
    )

    assert len(received) == SOCKETS
    assert all(m["machine"] == machine.pk and m["samples"][0][0] == machine_tags[0].pk for m in received)
    assert {m["samples"][0][2] for m in received} == {42.5}
    assert members == 1
    log.seek(0)
    assert "MaxConnectionsError" not in log.read()
