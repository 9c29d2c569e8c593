"""An acquisition fleet across hosts (issue 16.2), on test hosts made of network namespaces (tests/netns.py):
PostgreSQL and Redis on host `db`, the real `celery worker --acquisition` on hosts `w1` and `w2` (each with its
own host name and its own store-and-forward file), the counter PLC (tests/netns.py) on host `plc`, whose register
history (one line per read served) is what the stored values are compared with."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import netns
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.celery]

ROOT = Path(__file__).resolve().parents[3]
UNITS = 4
TAGS_PER_UNIT = 2
PLC_PORT = 5020
PG_PORT = 5432
REDIS_PORT = 6379
LEASE_SECONDS = 6.0
HEARTBEAT_SECONDS = 2.0


@dataclass
class Fleet:
    net: netns.TestNetwork
    tmp: Path
    db_address: str
    redis_address: str
    plc_log: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    cleanup: list[Path] = field(default_factory=list)

    def buffer_path(self, host: str) -> Path:
        return self.tmp / host / "buffer.sqlite"

    def worker_start(self, host: str) -> None:
        (self.tmp / host).mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"postgres://postgres@{self.db_address}:{PG_PORT}/millwright_fleet",
            "REDIS_URL": f"redis://{self.redis_address}:{REDIS_PORT}/0",
            "DEBUG": "0",
            "MILLWRIGHT_STATE_DIR": str(self.tmp / host),
            "INGEST_BUFFER_PATH": str(self.buffer_path(host)),
            "INGEST_POLLER_LEASE_SECONDS": str(LEASE_SECONDS),
            "INGEST_POLLER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "INGEST_DB_WRITE_TIMEOUT_MS": "2000",
            "DATABASE_TCP_USER_TIMEOUT_MS": "3000",  # a cut link fails the write in 3 s (config/settings/base.py)
            "INGEST_REPLAY_INTERVAL_SECONDS": "1",
            "CELERY_TASK_DEFAULT_QUEUE": f"fleet-{host}",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", f"{host}@{host}", "-Q",
                f"fleet-{host}", "--acquisition", "--concurrency", "1", "--without-gossip", "--without-mingle",
                "--loglevel", "WARNING"]  # fmt: skip
        with open(self.tmp / f"{host}.log", "a") as log:  # the child keeps its own copy of the descriptor
            self.workers[host] = subprocess.Popen(
                self.net.command(host, argv, hostname=host),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def worker_kill(self, host: str) -> None:
        """kill -9 of the host's worker: main process and pool child, nothing given back."""
        process = self.workers.pop(host)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def worker_stop(self, host: str) -> None:
        process = self.workers.pop(host)
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def holders(self) -> dict[int, str]:
        """Device id -> the host whose worker holds its lease."""
        import redis

        from ingest.acquisition.leases import KEY_PREFIX

        client = redis.Redis(host=self.redis_address, port=REDIS_PORT, socket_timeout=5)
        keys = client.keys(f"{KEY_PREFIX}*")
        values = client.mget(keys) if keys else []
        return {
            int(k.decode().removeprefix(KEY_PREFIX)): v.decode().split("@", 1)[0]
            for k, v in zip(keys, values, strict=True)
            if v is not None and k.decode().removeprefix(KEY_PREFIX).isdigit()
        }

    def served(self) -> Counter[tuple[int, int]]:
        """(unit, counter) -> how many reads the PLC served with it."""
        lines = self.plc_log.read_text().split()
        return Counter((int(u), int(c)) for u, c in zip(lines[::2], lines[1::2], strict=True))


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "a") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def _postgres(fleet: Fleet, net: netns.TestNetwork, tmp: Path) -> subprocess.Popen:
    from devtools.embedded.postgres import _pg_account, _pg_bin, _pg_run

    account = _pg_account()
    assert account is not None  # we are root (netns.unavailable checked)
    # Not under pytest's temporary folder, which only root may enter.
    pgdata = Path(tempfile.mkdtemp(prefix="millwright-fleet-pg-"))
    fleet.cleanup.append(pgdata)
    os.chown(pgdata, account.uid, account.gid)
    code, output = _pg_run(
        [str(_pg_bin("initdb")), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--no-sync"], account, 120
    )
    assert code == 0, output
    with open(pgdata / "pg_hba.conf", "a") as hba:
        hba.write("host all all 0.0.0.0/0 trust\n")
    argv = ["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", "--clear-groups",
            str(_pg_bin("postgres")), "-D", str(pgdata), "-h", fleet.db_address, "-p", str(PG_PORT), "-k", "",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]  # fmt: skip
    return _start(net.command("db", argv), tmp / "postgres.log")


def _answers(address: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((address, port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, django_db_blocker) -> Iterator[Fleet]:
    reason = netns.unavailable()
    if reason:
        pytest.skip(f"no test hosts: {reason}")
    from devtools.embedded.redis import _redis_bin

    tmp = tmp_path_factory.mktemp("fleet")
    net = netns.TestNetwork(["db", "w1", "w2", "plc"]).start()
    fleet = Fleet(
        net=net,
        tmp=tmp,
        db_address=net.addresses["db"],
        redis_address=net.address_add("db", 101),  # Redis on an address of its own: the database is cut alone
        plc_log=tmp / "plc-history.txt",
    )
    try:
        fleet.processes["postgres"] = _postgres(fleet, net, tmp)
        redis_argv = [str(_redis_bin()), "--bind", fleet.redis_address, "--port", str(REDIS_PORT), "--save", "",
                      "--appendonly", "no", "--dir", str(tmp)]  # fmt: skip
        fleet.processes["redis"] = _start(net.command("db", redis_argv), tmp / "redis.log")
        plc_address = net.addresses["plc"]
        plc_argv = [sys.executable, "-m", "tests.netns", "plc", "--host", plc_address, "--port", str(PLC_PORT),
                    "--units", str(UNITS), "--registers", str(2 * TAGS_PER_UNIT),
                    "--log", str(fleet.plc_log)]  # fmt: skip
        fleet.processes["plc"] = _start(net.command("plc", plc_argv), tmp / "plc.log")
        for address, port in ((fleet.db_address, PG_PORT), (fleet.redis_address, REDIS_PORT), (plc_address, PLC_PORT)):
            wait_until(lambda a=address, p=port: _answers(a, p), timeout=60, what=f"{address}:{port} to answer")
        with django_db_blocker.unblock():
            from bench.common import bench_database

            with bench_database(
                "millwright_fleet", f"postgres://postgres@{fleet.db_address}:{PG_PORT}/postgres", keep=True
            ):
                _plant_create(plc_address)
                yield fleet
    finally:
        for host in list(fleet.workers):
            fleet.worker_kill(host)
        for process in fleet.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        net.close()
        for path in fleet.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def _plant_create(plc_address: str) -> None:
    from bench.common import Layout, layout_plant_create
    from historian.models import Device, Tag

    layout_plant_create(
        Layout(devices=UNITS, tags_per_device=TAGS_PER_UNIT),
        1000,
        device_fields=lambda unit: {"name": f"PLC {unit}", "port": PLC_PORT, "unit_id": unit},
        tag_fields=lambda unit, i: {"name": f"c{i}", "address": f"HR{2 * i}", "data_type": "float32"},
    )
    Device.objects.update(host=plc_address)
    Tag.objects.update(span_high=netns.COUNTER_MODULO)


def _stored() -> list[tuple[int, int, float, float, int]]:
    """(unit, tag id, sample time, value, quality) of every stored sample."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.unit_id, s.tag_id, extract(epoch FROM s.time)::float8, s.value, s.quality "
            "FROM historian_sample s JOIN historian_tag t ON t.id = s.tag_id JOIN historian_device d "
            "ON d.id = t.device_id ORDER BY s.time"
        )
        return cursor.fetchall()


def _good(since: float) -> dict[int, set[int]]:
    """unit -> counters stored with good quality since `since` (every tag of the unit)."""
    from historian.quality import Quality

    per_tag: dict[tuple[int, int], set[int]] = {}
    for unit, tag_id, t, value, quality in _stored():
        if quality == Quality.GOOD and t >= since:
            per_tag.setdefault((unit, tag_id), set()).add(int(value))
    units: dict[int, set[int]] = {}
    for (unit, _), counters in per_tag.items():
        units[unit] = counters if unit not in units else units[unit] & counters
    return units


def _assert_every_value_once(fleet: Fleet, *, since: float, until: float, lost_ok: set[tuple[int, int]]) -> None:
    """Every counter the PLC served between `since` and `until` is stored once per tag, with its value at its
    time; nothing stored that the PLC did not serve; no second read twice. `lost_ok`: reads a worker killed -9
    may have made without storing them."""
    from historian.quality import Quality

    low, high = netns.counter_at(since), netns.counter_at(until)
    served = {key: n for key, n in fleet.served().items() if low <= key[1] <= high}
    twice = sorted(key for key, n in served.items() if n > 1)
    assert not twice, f"reads served twice in one second (two hosts polling one device): {twice[:10]}"
    stored: Counter[tuple[int, int, int]] = Counter()
    for unit, tag_id, t, value, quality in _stored():
        if quality != Quality.GOOD or not since <= t <= until:
            continue
        assert 0 <= value - netns.counter_at(t) <= 1, (unit, tag_id, t, value)  # read at its tick, or 1 s later
        stored[(unit, tag_id, int(value))] += 1
    assert max(stored.values()) == 1, [key for key, n in stored.items() if n > 1][:10]
    tags_of: dict[int, set[int]] = {}
    for unit, tag_id, _ in stored:
        tags_of.setdefault(unit, set()).add(tag_id)
    assert len(tags_of) == UNITS
    assert all(len(tags) == TAGS_PER_UNIT for tags in tags_of.values())
    missing = sorted(
        (unit, counter)
        for unit, counter in served
        for tag_id in tags_of[unit]
        if (unit, tag_id, counter) not in stored and (unit, counter) not in lost_ok
    )
    assert not missing, f"served but not stored: {missing[:20]}"
    unserved = sorted((u, c) for u, _, c in stored if (u, c) not in served)
    assert not unserved, f"stored but never served: {unserved[:20]}"


def _all_polled_since(since: float) -> bool:
    counters = _good(since)
    return len(counters) == UNITS and all(counters.values())


def test_a_worker_host_killed_and_cut_off_has_its_devices_taken_over_within_the_lease_without_loss(fleet):
    fleet.worker_start("w1")
    fleet.worker_start("w2")
    started = time.time()
    wait_until(lambda: _all_polled_since(started), timeout=120, what="every device polled")
    wait_until(lambda: set(fleet.holders().values()) == {"w1", "w2"}, timeout=60, what="both hosts holding devices")
    time.sleep(3)
    victim = fleet.holders()[min(fleet.holders())]
    survivor = "w2" if victim == "w1" else "w1"
    taken = {device for device, host in fleet.holders().items() if host == victim}

    fleet.worker_kill(victim)
    killed = time.time()
    fleet.net.link(victim, up=False)
    wait_until(
        lambda: set(fleet.holders().values()) == {survivor} and len(fleet.holders()) == UNITS,
        timeout=60,
        what=f"{survivor} to hold every device",
    )
    wait_until(lambda: _all_polled_since(killed + 1), timeout=60, what="every device polled after the kill")
    time.sleep(3)
    fleet.worker_stop(survivor)
    stopped = time.time()

    from historian.models import Device
    from historian.quality import Quality

    units = dict(Device.objects.filter(pk__in=taken).values_list("pk", "unit_id"))
    # Taken over within the lease time: the first value after the kill of each of the victim's devices.
    for unit in units.values():
        first = min(t for u, _, t, _, q in _stored() if u == unit and q == Quality.GOOD and t > killed)
        assert first - killed <= LEASE_SECONDS + 1.0, (unit, first - killed)
    gap_marks = {u for u, _, t, _, q in _stored() if q == Quality.BAD_ACQUISITION_DOWN and t >= killed - 2}
    assert gap_marks == set(units.values())
    # The dead worker may have read values in its last second and died before storing them.
    lost_ok = {(unit, int(netns.counter_at(killed)) - k) for unit in units.values() for k in (0, 1)}
    _assert_every_value_once(fleet, since=started, until=stopped - 1, lost_ok=lost_ok)
    fleet.net.link(victim, up=True)


def test_a_worker_host_cut_from_the_database_buffers_and_replays_its_own_buffer(fleet):
    from ingest.pipeline.buffer import SampleBuffer

    for host in list(fleet.workers):
        fleet.worker_stop(host)
    fleet.worker_start("w1")
    started = time.time() + 4  # every device held by w1 (the leases of the previous test lapsed or were given)
    wait_until(lambda: _all_polled_since(started), timeout=120, what="every device polled by w1")

    fleet.net.blackhole("w1", fleet.db_address, on=True)
    buffer = SampleBuffer(fleet.buffer_path("w1"), max_rows=10_000_000)
    try:
        wait_until(lambda: buffer.depth() >= UNITS * TAGS_PER_UNIT * 5, timeout=60, what="w1 to buffer")
    finally:
        fleet.net.blackhole("w1", fleet.db_address, on=False)
    wait_until(lambda: buffer.depth() == 0, timeout=120, what="w1's buffer to replay")
    time.sleep(2)
    fleet.worker_stop("w1")
    stopped = time.time()
    buffer.close()

    assert (
        not (fleet.tmp / "w2" / "buffer.sqlite").exists()
        or SampleBuffer(fleet.buffer_path("w2"), max_rows=1).depth() == 0
    )
    _assert_every_value_once(fleet, since=started, until=stopped - 1, lost_ok=set())
