"""A site feeding a central Millwright over Sparkplug B, as real processes on two databases and a real Mosquitto.

The site (this test's database) stores values through the ingest pipeline; `manage.py run_edge_publisher` publishes
them from the outbox; `manage.py run_sparkplug` of the central (a second database on the same server, a copy of the
first made before anything ran, with Sparkplug tags for the site's machine) stores them. The broker is stopped for
60 s and restarted on its port, the publisher is killed with SIGKILL once and started again; at the end the central
holds every site value exactly once, with the same time (to the millisecond: Sparkplug's), value and quality.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from historian.models import EdgePublication, Protocol, Tag
from historian.quality import Quality
from historian.queries.raw import raw_values
from ingest.pipeline.context import IngestContext
from ingest.pipeline.edge_outbox import edge_outbox
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from tests.factories import DeviceFactory, MachineFactory, ScanClassFactory, TagFactory
from tests.manage_py import PROJECT_ROOT
from tests.waiting import wait_until

OUTAGE_SECONDS = 60.0
STARTUP_SECONDS = 240.0


def _admin_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True)


@contextlib.contextmanager
def central_database() -> Iterator[str]:
    """A copy of the test database as it is now (CREATE DATABASE ... TEMPLATE), dropped on exit."""
    site = connection.settings_dict["NAME"]
    central = f"{site}_central"
    connection.close()  # a template must have no other session
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{central}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{central}" TEMPLATE "{site}"')
    try:
        yield central
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{central}" WITH (FORCE)')


@contextlib.contextmanager
def reading_database(name: str) -> Iterator[None]:
    """This process's queries on database `name` for a while (the central's history, read like the site's)."""
    site = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = site


class Command:
    """One `manage.py` command of one of the two instances."""

    def __init__(self, *args: str, database: str, env: dict[str, str], log, state_dir) -> None:
        db = connection.settings_dict
        self.args = args
        self.env = {
            **os.environ,
            **env,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "INGEST_BACKOFF_MAX_SECONDS": "3",
            "INGEST_BUFFER_PATH": str(state_dir / f"buffer-{database}.sqlite"),
        }
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> "Command":
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *self.args], cwd=PROJECT_ROOT, env=self.env, stdout=self.log, stderr=self.log
        )
        return self

    def alive(self) -> None:
        assert self.process is not None
        assert self.process.poll() is None, f"{self.args[0]} ended ({self.process.returncode})"

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ms_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _reading(tag: Tag, n: int) -> PointReading:
    """Mostly good values, some uncertain ones with a value, some bad ones without."""
    if n % 17 == 5:
        return PointReading(tag.pk, None, Quality.BAD_SENSOR_FAILURE, "sensor")
    value = float(n % 2) if tag.data_type == "bool" else round(20 + n * 0.37, 3)
    return PointReading(tag.pk, value, Quality.UNCERTAIN if n % 13 == 3 else Quality.GOOD)


def _missing_report(site_rows, got, central_tags, log) -> str:
    """What the central lacks (how many values, from when to when, against the stored range) and the processes'
    last log lines: what tells a loss in the path from a late store."""
    parts = []
    for pk, series in site_rows.items():
        times = sorted(p.time for p in series.points)
        have = {p.time for p in got[central_tags[pk].pk].points}
        missing = [t for t in times if t not in have]
        if missing:
            parts.append(
                f"tag {pk}: {len(missing)} of {len(times)} missing,"
                f" {missing[0]:%H:%M:%S.%f} to {missing[-1]:%H:%M:%S.%f}"
                f" (stored {times[0]:%H:%M:%S.%f} to {times[-1]:%H:%M:%S.%f})"
            )
    log.flush()
    tail = Path(log.name).read_text(errors="replace").splitlines()[-60:]
    return "; ".join(parts) + "\n" + "\n".join(tail)


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.timeout(900)
def test_the_central_holds_every_site_value_once_through_a_broker_outage_and_a_killed_publisher(
    transactional_db, broker, settings, tmp_path
):
    # The site: one machine whose two tags are published (no compression: every reading is history).
    machine = MachineFactory(name="Press 1", line__name="Line 1")
    plc = DeviceFactory(name="Site PLC")
    scan = ScanClassFactory()
    site_tags = [
        TagFactory(machine=machine, device=plc, scan_class=scan, name="temperature", units="°C", data_type="float64"),
        TagFactory(machine=machine, device=plc, scan_class=scan, name="running", data_type="bool", address="C1"),
    ]
    Tag.objects.filter(pk__in=[t.pk for t in site_tags]).update(edge_publish=True)
    EdgePublication.objects.create(
        name="central",
        host=broker.host,
        port=broker.port,
        group_id="Plants",
        edge_node_id="Site A",
        primary_host_id="central",
    )
    # The central's view of it: a Sparkplug device for the site's machine, a tag per metric (made here so that the
    # copy holds them; the site never reads them).
    remote = DeviceFactory(
        name="Site A / Press 1",
        protocol=Protocol.SPARKPLUG,
        host=broker.host,
        port=broker.port,
        sparkplug_group_id="Plants",
        sparkplug_edge_node_id="Site A",
        sparkplug_device_id="Press 1",
    )
    central_machine = MachineFactory(name="Site A Press 1", line__name="Site A")
    central_tags = {
        site.pk: TagFactory(
            machine=central_machine,
            device=remote,
            scan_class=scan,
            name=site.name,
            address=site.name,
            data_type=site.data_type,
        )
        for site in site_tags
    }
    site_db = connection.settings_dict["NAME"]
    outbox_path = settings.INGEST_EDGE_OUTBOX_PATH
    log = (tmp_path / "processes.log").open("ab")

    with central_database() as central_db, contextlib.ExitStack() as running:
        central = Command(
            "run_sparkplug", "--flush-ms", "100", "--reload-seconds", "2",
            database=central_db, env={"SPARKPLUG_HOST_ID": "central"}, log=log, state_dir=tmp_path,
        ).start()  # fmt: skip
        running.callback(central.stop)
        publisher_env = {"INGEST_EDGE_OUTBOX_PATH": outbox_path}
        publisher = Command(
            "run_edge_publisher", "--flush-ms", "100", database=site_db, env=publisher_env, log=log, state_dir=tmp_path
        ).start()
        running.callback(publisher.stop)
        running.callback(log.close)
        context = IngestContext()
        tags = {t.pk: t for t in site_tags}
        stored: list[datetime] = []

        def store_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                n = len(stored)
                at = _ms_now()
                readings_store(
                    context=context, device=plc, tags=tags, readings=[_reading(t, n) for t in site_tags], read_at=at
                )
                stored.append(at)
                time.sleep(0.1)

        def published() -> bool:
            central.alive()
            publisher.alive()
            return edge_outbox().depth() == 0

        store_for(8)
        # A loaded machine takes a minute to start a Django process: the first values wait for both.
        wait_until(published, timeout=STARTUP_SECONDS, what="the first values published", interval=0.5)
        broker.stop()
        store_for(OUTAGE_SECONDS)
        assert edge_outbox().depth() >= 2 * 0.5 * OUTAGE_SECONDS / 0.1  # waiting on disk
        broker.start()
        store_for(0.5)
        publisher.kill9()  # in the middle of reconnecting or of sending the backlog
        publisher.start()
        store_for(8)
        wait_until(published, timeout=STARTUP_SECONDS, what="the outbox drained", interval=0.5)

        start, end = stored[0] - timedelta(seconds=1), stored[-1] + timedelta(seconds=1)
        site_rows = raw_values(tag_ids=list(tags), start=start, end=end, max_points=100_000)

        def central_rows():
            with reading_database(central_db):
                return raw_values(
                    tag_ids=[t.pk for t in central_tags.values()], start=start, end=end, max_points=100_000
                )

        def central_has_all():
            got = central_rows()
            return all(
                {p.time for p in site_rows[pk].points} <= {p.time for p in got[central_tags[pk].pk].points}
                for pk in tags
            )

        try:
            wait_until(central_has_all, timeout=60, what="every site value at the central", interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {_missing_report(site_rows, central_rows(), central_tags, log)}") from None
        got = central_rows()

    for pk in tags:
        site_points = site_rows[pk].points
        assert len(site_points) == len(stored)
        times = [p.time for p in got[central_tags[pk].pk].points]
        assert len(times) == len(set(times))  # once each
        site_times = {p.time for p in site_points}
        central_own = [p for p in got[central_tags[pk].pk].points if p.time not in site_times]
        # What the central adds of its own: its lost link to the site (the broker's outage, the killed
        # publisher's will), marked "comm failure" at the instants it noticed.
        assert {p.quality for p in central_own} <= {Quality.BAD_COMM_FAILURE}
        assert len(central_own) <= 4
        from_site = [(p.time, p.value, p.quality) for p in got[central_tags[pk].pk].points if p.time in site_times]
        assert from_site == [(p.time, p.value, p.quality) for p in site_points]
