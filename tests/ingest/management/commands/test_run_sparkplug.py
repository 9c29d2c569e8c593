"""`manage.py run_sparkplug` as the Procfile runs it: births reach the database, SIGTERM stops it cleanly."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from historian.models import DiscoveredMetric, Protocol
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode
from tests.factories import DeviceFactory
from tests.mqtt_broker import MosquittoBroker
from tests.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[4]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.slow
def test_run_sparkplug_discovers_edge_nodes_and_stops_on_sigterm(transactional_db, settings, tmp_path):
    if MosquittoBroker.executable() is None:
        pytest.skip("no MQTT broker: mosquitto is not installed (Debian: apt-get install mosquitto)")
    broker = MosquittoBroker(tmp_path).start()
    DeviceFactory(name="Broker", protocol=Protocol.SPARKPLUG, host=broker.host, port=broker.port)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_sparkplug", "--flush-ms", "100"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    edge = SparkplugEdgeNode(
        host=broker.host, port=broker.port, group_id="G", edge_node_id="E", node_metrics={"Speed": DataType.DOUBLE}
    )

    def birth_recorded() -> bool:
        assert proc.poll() is None, proc.communicate()
        if DiscoveredMetric.objects.filter(name="Speed", device__sparkplug_edge_node_id="E").exists():
            return True
        edge.publish_births()  # until the command has subscribed
        return False

    try:
        edge.connect()
        wait_until(birth_recorded, timeout=30, what="a birth recorded by the command", interval=0.3)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 0, stderr
        assert stdout.strip().splitlines()[-1] == "Sparkplug B host stopped"
    finally:
        edge.disconnect(send_death=False)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        broker.stop()
