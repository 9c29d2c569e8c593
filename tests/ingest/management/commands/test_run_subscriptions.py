"""`manage.py run_subscriptions` as the Procfile runs it: values reach the database, SIGTERM stops it cleanly."""

import pytest
from django.db import connection

from demo.simulator.opcua_server import opcua_signal_node_id
from historian.models import Protocol
from tests.factories import DeviceFactory, ScanClassFactory, TagFactory
from tests.waiting import wait_until


@pytest.mark.slow
def test_run_subscriptions_stores_values_and_stops_on_sigterm(manage_py, opcua_plant_server):
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
    manage_py.start("run_subscriptions", "--flush-ms", "100")

    def value_stored() -> bool:
        manage_py.running()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM historian_sample WHERE tag_id = %s", [tag.pk])
            return bool(cursor.fetchone()[0])

    wait_until(value_stored, timeout=30, what="a value stored by the command", interval=0.2)
    assert manage_py.sigterm().strip().splitlines()[-1] == "OPC UA subscriptions stopped"
