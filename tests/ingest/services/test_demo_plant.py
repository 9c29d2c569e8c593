"""The demo plant loader: its OPC UA line reads, through the real driver and subscriptions, what the simulator's
OPC UA server serves."""

import time

import pytest
from django.db import connection

from historian.models import Device, DeviceStatus, Protocol, Tag
from historian.quality import Quality
from ingest.drivers.base import PointRequest
from ingest.drivers.registry import driver_for, drivers_close_all
from ingest.services import store
from ingest.services.compression import CompressionFilter
from ingest.services.demo_plant import demo_plant_load
from ingest.services.poll import scan_class_device_ids
from ingest.services.subscriptions import SubscriptionRunner
from ingest.simulator.plant import MACHINE_SIGNALS


@pytest.fixture
def opcua_demo_plant(db, opcua_plant_server):
    """The demo plant of the OPC UA test server's size (1 line, 2 machines), its one line over OPC UA."""
    summary = demo_plant_load(lines=1, machines_per_line=2, opcua_port=opcua_plant_server.port)
    yield summary
    drivers_close_all()


def test_the_opcua_line_reads_good_values_of_every_tag_through_the_driver(opcua_demo_plant, opcua_plant_server):
    device = Device.objects.get(protocol=Protocol.OPCUA)
    tags = list(Tag.objects.filter(device=device).order_by("pk"))
    assert len(tags) == 2 * len(MACHINE_SIGNALS) == opcua_demo_plant.tags
    assert opcua_demo_plant.opcua_lines == 1

    readings = driver_for(device).read([PointRequest(t.pk, t.address, t.data_type, t.scale, t.offset) for t in tags])

    assert {r.tag_id: r.quality for r in readings} == {t.pk: Quality.GOOD for t in tags}
    energy = Tag.objects.get(path__endswith="CNC 101.energy_total")
    expected = opcua_plant_server.plant.machine(0, 0).values()["energy_total"]
    assert next(r.value for r in readings if r.tag_id == energy.pk) == pytest.approx(expected, rel=0.01)


def test_the_opcua_line_is_subscribed_not_polled(opcua_demo_plant, monkeypatch):
    monkeypatch.setattr(store, "compression", CompressionFilter())
    device = Device.objects.get(protocol=Protocol.OPCUA)
    assert device.use_subscriptions
    assert device.pk not in scan_class_device_ids(scan_class_id=Tag.objects.filter(device=device)[0].scan_class_id)
    tag_ids = set(Tag.objects.filter(device=device).values_list("pk", flat=True))
    runner = SubscriptionRunner(flush_seconds=0.1)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while _tags_with_good_samples(tag_ids) != tag_ids:
            assert time.monotonic() < deadline, "not every tag of the OPC UA line got a good value"
            runner.step()
            time.sleep(0.1)
    finally:
        runner.shutdown()
    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED


def test_loading_again_with_the_line_back_on_modbus_moves_its_tags_and_drops_the_opcua_device(
    opcua_demo_plant, plant_server
):
    demo_plant_load(port=plant_server.port, lines=1, machines_per_line=2)

    assert list(Device.objects.values_list("name", "protocol")) == [("Line 1 PLC", Protocol.MODBUS)]
    assert set(Tag.objects.values_list("device__name", flat=True)) == {"Line 1 PLC"}


def _tags_with_good_samples(tag_ids: set[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tag_id FROM historian_sample WHERE tag_id = ANY(%s) AND quality = %s",
            [list(tag_ids), int(Quality.GOOD)],
        )
        return {row[0] for row in cursor.fetchall()}
