"""A web tier of two processes (issue 16): two `uvicorn config.asgi:application` servers, as the Procfile runs
them, on two ports, sharing live pushes through a channel layer sharded over two Redis servers
(CHANNEL_LAYER_REDIS_URLS; channels_redis puts each group on one server by consistent hashing). A Chromium page on
each server receives every value published through historian.services.live, for machines whose groups live on
either Redis server."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from channels_redis.utils import _consistent_hash
from django.conf import settings
from django.db import connection

from common.net import free_port, wait_for_port
from common.redis import channel_layer_host, redis_client
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.live import live_samples_publish, machine_live_group
from tests.browser import BROWSER_TESTS, BrowserThread, login
from tests.factories import LineFactory, MachineFactory, TagFactory
from tests.redis_server import PrivateRedis
from tests.waiting import wait_until

pytestmark = [*BROWSER_TESTS, pytest.mark.serial]
ROOT = Path(settings.BASE_DIR)


@contextmanager
def web_process(directory: Path, channel_layer_urls: list[str]) -> Iterator[str]:
    """One web process on the test database and Redis, its channel layer on `channel_layer_urls`; yields its URL."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_LAYER_REDIS_URLS": ",".join(channel_layer_urls),
    }
    log = open(directory / f"uvicorn-{port}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert wait_for_port("127.0.0.1", port, timeout=60, alive=lambda: process.poll() is None), "uvicorn died"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.fixture
def two_redis(tmp_path) -> Iterator[list[PrivateRedis]]:
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(PrivateRedis(tmp_path / name).start())
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def _machines_on_each_shard(line, shards: int) -> list:
    """Machines whose live groups hash onto shard 0, 1, ... (each with a key tag)."""
    found: dict[int, object] = {}
    while len(found) < shards:
        machine = MachineFactory(line=line)
        found.setdefault(_consistent_hash(machine_live_group(machine.pk), shards), machine)
    for machine in found.values():
        TagFactory(machine=machine, name="speed", units="rpm", is_key=True)
    return [found[index] for index in range(shards)]


def _shown(page, tag_id: int, value: float, timeout_ms: int = 15_000) -> None:
    page.wait_for_function(
        """([tag, value]) => {
            const el = document.querySelector(`.value[data-tag="${tag}"] .num`);
            return el !== null && parseFloat(el.textContent) === value;
        }""",
        arg=[tag_id, value],
        timeout=timeout_ms,
    )


def test_two_web_processes_push_the_same_live_values_over_a_channel_layer_sharded_on_two_redis(
    transactional_db, tmp_path, settings, make_user, two_redis
):
    make_user("operator")
    urls = [server.url for server in two_redis]
    machines = _machines_on_each_shard(LineFactory(name="Line A"), len(urls))
    tags = [machine.tags.get() for machine in machines]
    # This process publishes as the ingest store does, through the same sharded layer.
    settings.CHANNEL_LAYERS = {
        "default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {"hosts": [channel_layer_host(u) for u in urls]}}
    }
    browsers = [BrowserThread(), BrowserThread()]
    try:
        with web_process(tmp_path, urls) as first, web_process(tmp_path, urls) as second:
            for browser, url in zip(browsers, (first, second), strict=True):
                browser.run(lambda page, url=url: login(page, f"{url}/", "operator"))

            def publish(value: float) -> None:
                at = datetime.now(UTC)
                live_samples_publish(
                    rows_by_machine={
                        m.pk: [SampleRow(at, t.pk, value, Quality.GOOD)] for m, t in zip(machines, tags, strict=True)
                    }
                )

            def everywhere(value: float) -> bool:
                try:
                    for browser in browsers:
                        browser.run(lambda page: [_shown(page, tag.pk, value, 1000) for tag in tags], timeout=30)
                except Exception:
                    return False
                return True

            # Until both pages' sockets have subscribed (a value published earlier reaches nobody).
            wait_until(lambda: publish(1.0) or everywhere(1.0), timeout=60, what="both pages showing the first value")
            for value in (2.0, 3.0, 4.0, 5.0):
                publish(value)
                for browser in browsers:
                    for tag in tags:
                        browser.run(lambda page, tag=tag, value=value: _shown(page, tag.pk, value))

            # Each machine's group lives on its own Redis server, joined once by each web process.
            members = [
                [redis_client(url=u).zcard(f"asgi:group:{machine_live_group(m.pk)}") for u in urls] for m in machines
            ]
    finally:
        for browser in browsers:
            browser.close()
    assert members == [[2, 0], [0, 2]]
