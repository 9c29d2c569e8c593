"""Polling OPC UA devices through the real poll path (device_poll) against real asyncua servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua
from django.db import connection

from historian.models import (
    Area,
    Device,
    DeviceStatus,
    Line,
    Machine,
    Protocol,
    ScanClass,
    Site,
    Tag,
    TimestampSource,
)
from historian.quality import Quality
from historian.queries.history import current_values
from ingest.acquisition.poll import device_poll
from tests.opcua_fixtures import OpcUaVariablesServer

NS = "urn:millwright:test:poll"
S, D, I32 = ua.VariantType.String, ua.VariantType.Double, ua.VariantType.Int32
VARIABLES = {
    "Program": (NS, "PRG-0042", S),
    "Speed": (NS, 1450.5, D),
    "Count": (NS, 17, I32),
    "Operator": (NS, "J. Doe", S),
}


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


def test_a_polled_string_tag_is_stored_as_text_beside_the_numeric_tags(polling, db, server):
    device, scan_class, tags = _polled_device(
        server.endpoint,
        {
            "program": (f"nsu={NS};s=Program", "string"),
            "speed": (f"nsu={NS};s=Speed", "float64"),
            "count": (f"nsu={NS};s=Count", "int32"),
        },
    )

    outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "stored"
    assert [row[1:] for row in _texts(tags["program"].pk)] == [("PRG-0042", Quality.GOOD)]
    assert [row[1:] for row in _numbers(tags["speed"].pk)] == [(1450.5, Quality.GOOD)]
    assert [row[1:] for row in _numbers(tags["count"].pk)] == [(17.0, Quality.GOOD)]
    current = current_values(tag_ids=[tags["speed"].pk])
    assert current[tags["speed"].pk].value == 1450.5
    device.refresh_from_db()
    assert (device.status, device.consecutive_failures) == (DeviceStatus.CONNECTED, 0)
    assert device.last_good_read_at is not None


def test_one_tag_of_the_wrong_type_is_bad_alone_and_the_device_stays_connected(polling, db, server):
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

    outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "stored"
    assert [row[1:] for row in _numbers(tags["operator"].pk)] == [(None, Quality.BAD_CONFIG_ERROR)]
    assert [row[1:] for row in _texts(tags["program_as_text"].pk)] == [(None, Quality.BAD_CONFIG_ERROR)]
    assert [row[1:] for row in _numbers(tags["unknown_ns"].pk)] == [(None, Quality.BAD_CONFIG_ERROR)]
    assert [row[1:] for row in _numbers(tags["speed"].pk)] == [(1450.5, Quality.GOOD)]
    assert [row[1:] for row in _texts(tags["program"].pk)] == [("PRG-0042", Quality.GOOD)]
    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
    assert "String is not a number" in device.last_error  # the tag's problem is told, the link is fine


def test_a_polled_device_with_a_string_tag_reconnects_after_a_server_outage(polling, db):
    port_server = OpcUaVariablesServer(VARIABLES, namespaces=[NS])
    with port_server:
        endpoint, port = port_server.endpoint, port_server.port
        device, scan_class, tags = _polled_device(
            endpoint, {"program": (f"nsu={NS};s=Program", "string"), "speed": (f"nsu={NS};s=Speed", "float64")}
        )
        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"

    assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "unreachable"
    device.refresh_from_db()
    assert device.status == DeviceStatus.ERROR

    with OpcUaVariablesServer(VARIABLES, namespaces=[NS], port=port) as back:
        back.write("Program", "PRG-0043", S)
        Device.objects.filter(pk=device.pk).update(next_retry_at=None)  # the backoff has passed

        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"

    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
    texts = [row[1:] for row in _texts(tags["program"].pk)]
    assert texts == [("PRG-0042", Quality.GOOD), (None, Quality.BAD_COMM_FAILURE), ("PRG-0043", Quality.GOOD)]
    assert [row[2] for row in _numbers(tags["speed"].pk)] == [Quality.GOOD, Quality.BAD_COMM_FAILURE, Quality.GOOD]


# -- timestamps (issue 11.3) ----------------------------------------------------------------------------------


def _ago(seconds: float) -> datetime:
    """A time `seconds` ago, on a 100 ms boundary (the resolution times are kept to)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(seconds=seconds)


def test_polled_values_are_stored_at_the_servers_source_timestamp_and_not_again_until_it_moves(polling, db, server):
    device, scan_class, tags = _polled_device(
        server.endpoint, {"speed": (f"nsu={NS};s=Speed", "float64"), "program": (f"nsu={NS};s=Program", "string")}
    )
    assert device.timestamp_source == TimestampSource.SOURCE  # the default
    t1, t2, t3 = _ago(30), _ago(20), _ago(10)
    server.write("Speed", 10.0, D, source_timestamp=t1, server_timestamp=t3)
    server.write("Program", "PRG-A", S, source_timestamp=t2)

    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)  # nothing moved on the server
    server.write("Speed", 11.0, D, source_timestamp=t3)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    assert _numbers(tags["speed"].pk) == [(t1, 10.0, Quality.GOOD), (t3, 11.0, Quality.GOOD)]
    assert _texts(tags["program"].pk) == [(t2, "PRG-A", Quality.GOOD)]
    assert current_values(tag_ids=[tags["speed"].pk])[tags["speed"].pk].time == t3


def test_without_a_source_timestamp_the_server_timestamp_then_the_scan_time_is_used(polling, db, server):
    device, scan_class, tags = _polled_device(
        server.endpoint, {"speed": (f"nsu={NS};s=Speed", "float64"), "count": (f"nsu={NS};s=Count", "int32")}
    )
    server_time = _ago(15)
    server.write("Speed", 12.5, D, source_timestamp=None, server_timestamp=server_time)
    server.write("Count", 3, I32, source_timestamp=None, server_timestamp=None)

    before = datetime.now(UTC)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    after = datetime.now(UTC)

    assert _numbers(tags["speed"].pk) == [(server_time, 12.5, Quality.GOOD)]
    ((count_time, count, _),) = _numbers(tags["count"].pk)
    assert count == 3.0
    assert before <= count_time <= after


def test_scan_time_stamps_every_value_of_a_scan_with_one_time(polling, db, server):
    device, scan_class, tags = _polled_device(
        server.endpoint,
        {
            "speed": (f"nsu={NS};s=Speed", "float64"),
            "count": (f"nsu={NS};s=Count", "int32"),
            "program": (f"nsu={NS};s=Program", "string"),
        },
    )
    Device.objects.filter(pk=device.pk).update(timestamp_source=TimestampSource.SCAN)
    server.write("Speed", 10.0, D, source_timestamp=_ago(30))
    server.write("Count", 4, I32, source_timestamp=_ago(20))
    server.write("Program", "PRG-S", S, source_timestamp=_ago(10))

    before = datetime.now(UTC)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    after = datetime.now(UTC)

    times = {_numbers(tags["speed"].pk)[0][0], _numbers(tags["count"].pk)[0][0], _texts(tags["program"].pk)[0][0]}
    assert len(times) == 1  # one timestamp per scan
    assert before <= times.pop() <= after


def test_after_a_lost_link_an_unchanged_value_is_stored_good_after_the_bad_sample(polling, db):
    t1 = _ago(60)
    with OpcUaVariablesServer(VARIABLES, namespaces=[NS]) as first:
        port = first.port
        device, scan_class, tags = _polled_device(first.endpoint, {"speed": (f"nsu={NS};s=Speed", "float64")})
        first.write("Speed", 10.0, D, source_timestamp=t1)
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)  # unreachable: one bad sample

    with OpcUaVariablesServer(VARIABLES, namespaces=[NS], port=port) as back:
        back.write("Speed", 10.0, D, source_timestamp=t1)  # the PLC's value has not moved since before the outage
        Device.objects.filter(pk=device.pk).update(next_retry_at=None)
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    rows = _numbers(tags["speed"].pk)
    assert [row[1:] for row in rows] == [(10.0, Quality.GOOD), (None, Quality.BAD_COMM_FAILURE), (10.0, Quality.GOOD)]
    assert rows[0][0] == t1
    assert rows[0][0] < rows[1][0] < rows[2][0]


def test_a_polled_server_is_put_in_the_asset_inventory_with_its_build_info(polling, db, server):
    from inventory.models import Asset

    device, scan_class, _ = _polled_device(server.endpoint, {"speed": (f"nsu={NS};s=Speed", "float64")})

    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    asset = Asset.objects.get(device=device)
    assert (asset.protocol, asset.key, asset.addresses) == ("opcua", server.endpoint, [server.endpoint])
    assert asset.identity["ProductUri"]
