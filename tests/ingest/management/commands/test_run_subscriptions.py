"""`manage.py run_subscriptions` as the Procfile runs it: values reach the database, SIGTERM stops it cleanly."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from demo.simulator.opcua_server import opcua_signal_node_id
from historian.models import Protocol
from tests.factories import DeviceFactory, ScanClassFactory, TagFactory
from tests.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[4]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.slow
def test_run_subscriptions_stores_values_and_stops_on_sigterm(transactional_db, opcua_plant_server, settings):
    device = DeviceFactory(
        name="Cmd OPC UA",
        protocol=Protocol.OPCUA,
        port=opcua_plant_server.port,
        use_subscriptions=True,
        publishing_interval_ms=100,
    )
    tag = TagFactory(
        name="speed_setpoint",
        device=device,
        scan_class=ScanClassFactory(name="S", period_ms=200),
        address=opcua_signal_node_id(0, 0, "speed_setpoint"),
        data_type="float32",
    )
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_subscriptions", "--flush-ms", "100"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def value_stored() -> bool:
        assert proc.poll() is None, proc.communicate()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM historian_sample WHERE tag_id = %s", [tag.pk])
            return bool(cursor.fetchone()[0])

    try:
        wait_until(value_stored, timeout=30, what="a value stored by the command", interval=0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 0, stderr
        assert stdout.strip().splitlines()[-1] == "OPC UA subscriptions stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
