"""Fault tests with real processes: a Modbus server restarted while polls run, a Celery worker killed with -9
while its values wait in the store-and-forward buffer for an unreachable PostgreSQL."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from common.redis import redis_client
from config.celery import app as celery_app
from demo.simulator.modbus_server import PlantServerThread
from historian.models import Device, DeviceStatus, Tag
from historian.quality import Quality
from ingest.acquisition import leases
from ingest.acquisition.poll import device_poll
from ingest.pipeline.buffer import SampleBuffer
from tests.samples import stored_samples
from tests.tcp_proxy import TcpProxy
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.serial]

ROOT = Path(settings.BASE_DIR)


def test_polling_rides_through_a_modbus_server_restart_without_a_worker_restart(
    polling, device, scan_class, plant_server, settings
):
    settings.INGEST_BACKOFF_MAX_SECONDS = 0.4
    tag_ids = list(Tag.objects.filter(device=device).values_list("pk", flat=True))
    port = plant_server.port
    restarted: list[PlantServerThread] = []
    statuses: list[str] = []

    def restart() -> None:
        wait_until(lambda: statuses.count("stored") >= 3, timeout=10, what="polls before the stop")
        plant_server.stop()  # while polls are running: one of them may be between two requests
        wait_until(lambda: "unreachable" in statuses, timeout=10, what="a poll to find the server gone")
        restarted.append(PlantServerThread(plant_server.plant, port=port, tick_seconds=0.2).start())

    restarter = threading.Thread(target=restart)
    restarter.start()
    try:
        deadline = time.monotonic() + 20.0
        # Polls until two after the server's return have been stored (or the restart failed, which the asserts show)
        while restarter.is_alive() or statuses[-2:] != ["stored", "stored"]:
            assert time.monotonic() < deadline, f"polling did not recover: {statuses}"
            statuses.append(device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status)
            time.sleep(0.02)
    finally:
        restarter.join()
        for server in restarted:
            server.stop()

    assert statuses[0] == "stored"
    assert "unreachable" in statuses
    assert statuses[-1] == "stored"
    assert set(statuses) <= {"stored", "unreachable", "backoff"}
    rows = stored_samples(tag_ids)
    bad = [r for r in rows if r[3] == Quality.BAD_COMM_FAILURE]
    assert sorted(r[0] for r in bad) == sorted(tag_ids)  # the drop stored once per tag
    drop_time = bad[0][1]
    recovered = {r[0] for r in rows if r[1] > drop_time and r[3] == Quality.GOOD}
    assert recovered == set(tag_ids)  # and the recovery too
    device.refresh_from_db()
    assert (device.status, device.consecutive_failures, device.last_error) == (DeviceStatus.CONNECTED, 0, "")


# -- kill -9 of a real worker with values in its buffer --------------------------------------------------------


class Worker:
    """A real `celery worker` process (prefork, one child) in its own process group, so that kill -9 takes all."""

    def __init__(
        self, *, database_url: str, buffer_path: Path, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = f"faults-{uuid.uuid4().hex[:8]}@localhost"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "REDIS_URL": settings.REDIS_URL,
            "INGEST_BUFFER_PATH": str(buffer_path),
            "PYTHONUNBUFFERED": "1",
            "CELERY_TASK_DEFAULT_QUEUE": self.name,  # its own queue: no other worker takes its tasks
            # A killed worker's device lease lapses in 2 s, and the next worker takes the device over.
            "INGEST_POLLER_LEASE_SECONDS": "2",
            **(env or {}),
        }
        self.log = open(log_path, "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", self.name, "-Q", self.name,
             "--concurrency", "1", "--acquisition", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[self.name], timeout=1.0):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"celery worker did not start; see {log_path}")

    def kill(self) -> None:
        """kill -9, the whole worker (main process and pool child)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        """Warm shutdown: SIGTERM to the main process only, which lets the running task finish."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def database_proxy(transactional_db) -> Iterator[TcpProxy]:
    db = connection.settings_dict
    with TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy:
        yield proxy


def _database_url(port: int) -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@127.0.0.1:{port}/{db['NAME']}"


@pytest.mark.celery
def test_values_buffered_by_a_worker_killed_with_9_are_replayed_by_the_next_worker_exactly_once(
    database_proxy, device, scan_class, tmp_path
):
    tag_ids = list(Tag.objects.filter(device=device).values_list("pk", flat=True))
    buffer_path = tmp_path / "worker-buffer.sqlite"
    buffer = SampleBuffer(buffer_path, max_rows=1_000_000)
    worker_env = {"database_url": _database_url(database_proxy.port), "buffer_path": buffer_path}
    log_path = settings.MILLWRIGHT_STATE_DIR / "test-faults-worker.log"
    settings.MILLWRIGHT_STATE_DIR.mkdir(parents=True, exist_ok=True)
    celery_app.control.purge()

    first = Worker(**worker_env, log_path=log_path)  # its poller polls the device every second
    try:
        wait_until(lambda: len(stored_samples(tag_ids)) >= len(tag_ids), timeout=30, what="the first poll to be stored")

        database_proxy.cut()
        # Polls of a device never overlap: once one is buffered, a write in flight when the link was cut has
        # committed or rolled back.
        wait_until(lambda: buffer.depth() > 0, timeout=30, what="a poll after the cut to be buffered")
        stored_before = len(stored_samples(tag_ids))
        wait_until(lambda: buffer.depth() >= 3 * len(tag_ids) // 2, timeout=30, what="polls to be buffered")
    finally:
        first.kill()
    buffered = [row for _, row in buffer.peek(1_000_000)]
    assert len(stored_samples(tag_ids)) == stored_before  # nothing reached PostgreSQL while it was cut off

    database_proxy.restore()
    second = Worker(**worker_env, log_path=log_path)
    try:
        # Once the killed worker's lease on the device lapses, the second worker polls it; a poll that reaches the
        # database replays the buffer.
        wait_until(lambda: buffer.depth() == 0, timeout=30, what="the buffer to be replayed")
        wait_until(
            lambda: Device.objects.get(pk=device.pk).status == DeviceStatus.CONNECTED,
            timeout=30,
            what="the poll to finish",
        )
    finally:
        second.stop()
        buffer.close()

    rows = stored_samples(tag_ids)
    keys = [(tag_id, t) for tag_id, t, _, _ in rows]
    assert len(keys) == len(set(keys))
    by_key = {(tag_id, t): (value, quality) for tag_id, t, value, quality in rows}
    assert all(by_key[(r.tag_id, r.time)] == (r.value, r.quality) for r in buffered)


@pytest.mark.celery
def test_a_worker_killed_with_9_hands_its_device_over_within_seconds_and_the_gap_is_marked(
    transactional_db, device, scan_class, tmp_path
):
    """Two workers, the default 15 s leases: the survivor takes the device over once the dead one's heartbeat
    lapses (3 s), and stores a "no data: acquisition down" sample per tag at the start of the gap."""
    tag_ids = list(Tag.objects.filter(device=device).values_list("pk", flat=True))
    log_path = settings.MILLWRIGHT_STATE_DIR / "test-faults-worker.log"
    settings.MILLWRIGHT_STATE_DIR.mkdir(parents=True, exist_ok=True)
    database_url = _database_url(int(connection.settings_dict["PORT"] or 5432))
    lease_key = f"{leases.KEY_PREFIX}{device.pk}"
    celery_app.control.purge()
    env = {"INGEST_POLLER_LEASE_SECONDS": "15", "INGEST_POLLER_HEARTBEAT_SECONDS": "3"}
    workers = [
        Worker(database_url=database_url, buffer_path=tmp_path / f"buffer-{i}.sqlite", log_path=log_path, env=env)
        for i in range(2)
    ]
    try:
        holder = wait_until(lambda: redis_client().get(lease_key), timeout=30, what="a worker to lease the device")
        owner = next(w for w in workers if holder.decode().startswith(f"{w.name}:"))
        survivor = next(w for w in workers if w is not owner)
        wait_until(lambda: len(_good_times(tag_ids)) >= 3, timeout=30, what="polls to be stored")

        owner.kill()
        killed_at = time.time()
        wait_until(
            lambda: [t for t in _good_times(tag_ids) if t > killed_at],
            timeout=30,
            what="the survivor to poll the device",
        )
        assert redis_client().get(lease_key).decode().startswith(f"{survivor.name}:")
    finally:
        for worker in workers:
            worker.kill()

    times = _good_times(tag_ids)
    before = max(t for t in times if t <= killed_at)
    after = min(t for t in times if t > killed_at)
    assert after - before < 10  # the lease alone (15 s) would leave a longer hole
    markers = [r for r in stored_samples(tag_ids) if r[3] == Quality.BAD_ACQUISITION_DOWN]
    assert sorted(r[0] for r in markers if before < r[1].timestamp() < after) == sorted(tag_ids)


def _good_times(tag_ids) -> list[float]:
    """The distinct times of the good samples of these tags (epoch s)."""
    return sorted({r[1].timestamp() for r in stored_samples(tag_ids) if r[3] == Quality.GOOD})
