"""End to end through real processes: a real Celery worker's poller -> Modbus simulator -> PostgreSQL -> Redis
channel layer -> the ASGI server -> a real WebSocket client."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from websockets.sync.client import connect

from config.celery import app as celery_app
from historian.models import Tag
from tests.waiting import wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow]

ROOT = Path(settings.BASE_DIR)


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, demo_plant):
    """A real `celery worker --acquisition` process on the test database and the test Redis.

    Function-scoped: its poller polls every enabled device in the database, so it must not outlive this test.
    """
    database_url = _database_url()
    celery_app.control.purge()
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        # Its own queue: tasks meant for other workers (other tests, benchmarks) never reach it, nor its theirs.
        "CELERY_TASK_DEFAULT_QUEUE": name,
    }
    settings.MILLWRIGHT_STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = open(settings.MILLWRIGHT_STATE_DIR / "test-celery-worker.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", name, "-Q", name, "--concurrency", "1",
         "--acquisition", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited at start; see {log.name}")
        return bool(celery_app.control.ping(destination=[name], timeout=1.0))

    try:
        wait_until(answers, timeout=60, what=f"the celery worker to answer a ping (log: {log.name})")
    except BaseException:
        process.kill()
        raise
    yield process
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _session_cookie(make_user) -> str:
    user = make_user("operator")
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_a_poll_by_a_real_worker_lands_in_the_database_and_reaches_a_websocket(
    live_asgi, demo_plant, scan_class, machine, make_user, request
):
    cookie = _session_cookie(make_user)
    ws_url = f"ws://127.0.0.1:{live_asgi.port}/ws/live/"
    with connect(
        ws_url,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        origin=live_asgi.url,
    ) as websocket:
        websocket.send(json.dumps({"action": "subscribe", "machines": [machine.pk]}))
        assert json.loads(websocket.recv(timeout=5)) == {"type": "subscribed", "machines": [machine.pk]}

        request.getfixturevalue("celery_worker_process")  # its poller starts polling the plant

        message = json.loads(websocket.recv(timeout=60))

    machine_tag_ids = set(machine.tags.values_list("pk", flat=True))
    assert message["type"] == "samples"
    assert message["machine"] == machine.pk
    assert {row[0] for row in message["samples"]} == machine_tag_ids
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT tag_id) FROM historian_sample WHERE tag_id = ANY(%s) AND quality = 192",
            [list(machine_tag_ids)],
        )
        assert cursor.fetchone()[0] == len(machine_tag_ids)
    assert Tag.objects.filter(machine=machine).count() == len(machine_tag_ids)


def test_the_websocket_closes_a_browser_without_a_session_with_4401(live_asgi):
    from websockets.exceptions import ConnectionClosed

    def subscribe_anonymously() -> None:
        with connect(f"ws://127.0.0.1:{live_asgi.port}/ws/live/", origin=live_asgi.url) as websocket:
            websocket.send(json.dumps({"action": "subscribe", "machines": [1]}))
            websocket.recv(timeout=5)

    with pytest.raises(ConnectionClosed) as closed:
        subscribe_anonymously()
    assert closed.value.rcvd.code == 4401
