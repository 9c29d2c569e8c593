"""Polling OPC UA devices through the real poll path (device_poll) against real asyncua servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asyncua import ua
from django.db import connection

from historian.models import Area, Device, DeviceStatus, Line, Machine, Protocol, ScanClass, Site, Tag
from historian.quality import Quality
from historian.queries.history import current_values
from ingest.acquisition.poll import device_poll
from ingest.pipeline import store, text_store
from ingest.pipeline.compression import CompressionFilter
from ingest.protocols.registry import drivers_close_all
from tests.opcua_fixtures import OpcUaVariablesServer

NS = "urn:millwright:test:poll"
S, D, I32 = ua.VariantType.String, ua.VariantType.Double, ua.VariantType.Int32
VARIABLES = {
    "Program": (NS, "PRG-0042", S),
    "Speed": (NS, 1450.5, D),
    "Count": (NS, 17, I32),
    "Operator": (NS, "J. Doe", S),
}


@pytest.fixture(autouse=True)
def _fresh_memories(monkeypatch) -> Iterator[None]:
    monkeypatch.setattr(store, "compression", CompressionFilter())
    monkeypatch.setattr(text_store, "memory", text_store.TextMemory())
    yield
    drivers_close_all()


@pytest.fixture
def server() -> Iterator[OpcUaVariablesServer]:
    with OpcUaVariablesServer(VARIABLES, namespaces=[NS]) as srv:
        yield srv


def _polled_device(endpoint: str, tags: dict[str, tuple[str, str]]) -> tuple[Device, ScanClass, dict[str, Tag]]:
    """A polled OPC UA device with one tag per `tags` entry: name -> (address, data type)."""
    site = Site.objects.create(name="Polled plant")
    line = Line.objects.create(area=Area.objects.create(site=site, name="Machining"), name="Line 1")
    machine = Machine.objects.create(line=line, name="CNC 101")
    scan_class = ScanClass.objects.create(name="Polled", period_ms=1000)
    device = Device.objects.create(
        name="Polled OPC UA", protocol=Protocol.OPCUA, host="127.0.0.1", endpoint_url=endpoint, timeout_seconds=1.0
    )
    made = {
        name: Tag.objects.create(
            path=f"Polled plant/Machining/Line 1/CNC 101.{name}",
            name=name,
            machine=machine,
            device=device,
            scan_class=scan_class,
            address=address,
            data_type=data_type,
            historize=True,
        )
        for name, (address, data_type) in tags.items()
    }
    return device, scan_class, made


def _numbers(tag_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT time, value, quality FROM historian_sample WHERE tag_id = %s ORDER BY time", [tag_id])
        return cursor.fetchall()


def _texts(tag_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT time, value, quality FROM historian_text_sample WHERE tag_id = %s ORDER BY time", [tag_id]
        )
        return cursor.fetchall()


def test_a_polled_string_tag_is_stored_as_text_beside_the_numeric_tags(db, server):
    device, scan_class, tags = _polled_device(
        server.endpoint,
        {
            "program": (f"nsu={NS};s=Program", "string"),
            "speed": (f"nsu={NS};s=Speed", "float64"),
            "count": (f"nsu={NS};s=Count", "int32"),
        },
    )

    outcome = device_poll(device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "stored"
    assert [row[1:] for row in _texts(tags["program"].pk)] == [("PRG-0042", Quality.GOOD)]
    assert [row[1:] for row in _numbers(tags["speed"].pk)] == [(1450.5, Quality.GOOD)]
    assert [row[1:] for row in _numbers(tags["count"].pk)] == [(17.0, Quality.GOOD)]
    current = current_values(tag_ids=[tags["speed"].pk])
    assert current[tags["speed"].pk].value == 1450.5
    device.refresh_from_db()
    assert (device.status, device.consecutive_failures) == (DeviceStatus.CONNECTED, 0)
    assert device.last_good_read_at is not None


def test_one_tag_of_the_wrong_type_is_bad_alone_and_the_device_stays_connected(db, server):
    device, scan_class, tags = _polled_device(
        server.endpoint,
        {
            "operator": (f"nsu={NS};s=Operator", "float64"),  # a String variable on a numeric tag
            "program_as_text": (f"nsu={NS};s=Speed", "string"),  # a Double variable on a string tag
            "unknown_ns": ("nsu=urn:nobody;s=Speed", "float64"),
            "speed": (f"nsu={NS};s=Speed", "float64"),
            "program": (f"nsu={NS};s=Program", "string"),
        },
    )

    outcome = device_poll(device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "stored"
    assert [row[1:] for row in _numbers(tags["operator"].pk)] == [(None, Quality.BAD_CONFIG_ERROR)]
    assert [row[1:] for row in _texts(tags["program_as_text"].pk)] == [(None, Quality.BAD_CONFIG_ERROR)]
    assert [row[1:] for row in _numbers(tags["unknown_ns"].pk)] == [(None, Quality.BAD_CONFIG_ERROR)]
    assert [row[1:] for row in _numbers(tags["speed"].pk)] == [(1450.5, Quality.GOOD)]
    assert [row[1:] for row in _texts(tags["program"].pk)] == [("PRG-0042", Quality.GOOD)]
    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
    assert "String is not a number" in device.last_error  # the tag's problem is told, the link is fine


def test_a_polled_device_with_a_string_tag_reconnects_after_a_server_outage(db):
    port_server = OpcUaVariablesServer(VARIABLES, namespaces=[NS])
    with port_server:
        endpoint, port = port_server.endpoint, port_server.port
        device, scan_class, tags = _polled_device(
            endpoint, {"program": (f"nsu={NS};s=Program", "string"), "speed": (f"nsu={NS};s=Speed", "float64")}
        )
        assert device_poll(device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"

    assert device_poll(device_id=device.pk, scan_class_id=scan_class.pk).status == "unreachable"
    device.refresh_from_db()
    assert device.status == DeviceStatus.ERROR

    with OpcUaVariablesServer(VARIABLES, namespaces=[NS], port=port) as back:
        back.write("Program", "PRG-0043", S)
        Device.objects.filter(pk=device.pk).update(next_retry_at=None)  # the backoff has passed

        assert device_poll(device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"

    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
    texts = [row[1:] for row in _texts(tags["program"].pk)]
    assert texts == [("PRG-0042", Quality.GOOD), (None, Quality.BAD_COMM_FAILURE), ("PRG-0043", Quality.GOOD)]
    assert [row[2] for row in _numbers(tags["speed"].pk)] == [Quality.GOOD, Quality.BAD_COMM_FAILURE, Quality.GOOD]
