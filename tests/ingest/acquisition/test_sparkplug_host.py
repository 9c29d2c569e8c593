"""The Sparkplug B host application against a real Mosquitto broker and an edge node publishing real payloads.

Each module gets a private broker on a free loopback port (tests do not meet the system broker or each other);
the edge node is paho-mqtt publishing protobuf payloads (ingest.protocols.sparkplug.edge).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from django.db import connection

from historian.models import Area, Device, DeviceStatus, DiscoveredMetric, Line, Machine, Protocol, ScanClass, Site, Tag
from historian.quality import Quality
from ingest.acquisition.poll import polled_assignments
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.discovery import sparkplug_tags_create
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode
from ingest.protocols.sparkplug.session import BrokerSettings
from ingest.services.devices import device_enabled_set
from tests.mqtt_broker import MosquittoBroker, broker_or_skip
from tests.waiting import step_until, wait_until

GROUP, NODE, CNC = "Plant1", "Gateway1", "CNC101"
NODE_METRICS = {
    "Line speed": DataType.DOUBLE,
    "Temperature": DataType.FLOAT,
    "Running": DataType.BOOLEAN,
    "Offset": DataType.INT16,
    "Status text": DataType.STRING,
}
CNC_METRICS = {"Spindle/Speed": DataType.DOUBLE, "Parts": DataType.UINT32}


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[MosquittoBroker]:
    with broker_or_skip(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


def _samples(tag: Tag) -> list[tuple]:
    table = "historian_text_sample" if tag.is_text else "historian_sample"  # string tags have their own table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT time, value, quality FROM {table} WHERE tag_id = %s ORDER BY time", [tag.pk])  # noqa: S608
        return cursor.fetchall()


def _current(tag: Tag) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT time, value, quality FROM historian_current_value WHERE tag_id = %s", [tag.pk])
        return cursor.fetchone()


def _plant(broker: MosquittoBroker) -> tuple[Device, Machine, ScanClass]:
    site = Site.objects.create(name="MQTT plant")
    line = Line.objects.create(area=Area.objects.create(site=site, name="Machining"), name="Line 1")
    machine = Machine.objects.create(line=line, name="CNC 101")
    scan_class = ScanClass.objects.create(name="Pushed", period_ms=1000)
    device = Device.objects.create(
        name="Plant MQTT broker", protocol=Protocol.SPARKPLUG, host=broker.host, port=broker.port
    )
    return device, machine, scan_class


@pytest.fixture
def runner() -> Iterator[SparkplugRunner]:
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0)
    yield runner
    runner.shutdown()


@pytest.fixture
def plant(db, broker):
    return _plant(broker)


def _connected(runner: SparkplugRunner, broker: MosquittoBroker) -> None:
    runner.step()
    session = runner.session(BrokerSettings(broker.host, broker.port))
    assert session is not None, "no session opened for the broker device"
    assert session.wait_connected(10), "the runner did not connect to the broker"


def _edge(broker: MosquittoBroker, *, node: str = NODE) -> SparkplugEdgeNode:
    """Edge node `node` of GROUP with its NODE_METRICS and one device, CNC (not connected yet)."""
    return SparkplugEdgeNode(
        host=broker.host,
        port=broker.port,
        group_id=GROUP,
        edge_node_id=node,
        node_metrics=NODE_METRICS,
        devices={CNC: CNC_METRICS},
    )


@pytest.fixture
def edge(plant, broker, runner) -> Iterator[SparkplugEdgeNode]:
    """The runner connected to the broker, then an edge node with one device that has published its births."""
    _connected(runner, broker)
    node = _edge(broker)
    node.connect()
    # Both births handled: a DBIRTH can arrive before its node's NBIRTH is seen (the runner then asks for a
    # rebirth), so wait for the node's metrics as well as the device's.
    step_until(
        runner.step,
        lambda: (
            DiscoveredMetric.objects.filter(device__sparkplug_edge_node_id=NODE, device__sparkplug_device_id="").count()
            == len(NODE_METRICS)
            and DiscoveredMetric.objects.filter(device__sparkplug_device_id=CNC).count() == len(CNC_METRICS)
        ),
        timeout=20,
        what="the node's and the device's births",
    )
    yield node
    node.disconnect(send_death=False)


def _enable(runner: SparkplugRunner, plant) -> dict[str, Tag]:
    """Turn every discovered metric a tag can hold into a tag (as the admin's action does), reload, get the births."""
    _, machine, scan_class = plant
    result = sparkplug_tags_create(
        metrics=list(DiscoveredMetric.objects.order_by("pk")), machine=machine, scan_class=scan_class
    )
    tags = {t.address: t for t in result.created}
    runner.sync()  # new tags of an online node: a rebirth brings their current values
    step_until(
        runner.step,
        lambda: all(_samples(t) for t in tags.values()),
        timeout=20,
        what="the births' values of every new tag",
    )
    return tags


def test_births_create_disabled_discovered_devices_and_their_metrics(edge, runner):
    node = Device.objects.get(sparkplug_group_id=GROUP, sparkplug_edge_node_id=NODE, sparkplug_device_id="")
    cnc = Device.objects.get(sparkplug_device_id=CNC)

    assert (node.name, node.enabled, node.discovered, node.protocol) == ("Plant1/Gateway1", False, True, "sparkplug")
    assert (cnc.name, cnc.enabled, cnc.discovered) == ("Plant1/Gateway1/CNC101", False, True)
    metrics = {m.name: (m.sparkplug_type, m.data_type) for m in DiscoveredMetric.objects.filter(device=node)}
    assert metrics == {
        "Line speed": ("Double", "float64"),
        "Temperature": ("Float", "float32"),
        "Running": ("Boolean", "bool"),
        "Offset": ("Int16", "int16"),
        "Status text": ("String", "string"),
    }
    assert set(DiscoveredMetric.objects.filter(device=cnc).values_list("name", flat=True)) == set(CNC_METRICS)
    assert not Tag.objects.exists()


def test_births_put_the_edge_node_and_its_devices_in_the_asset_inventory(edge, runner, broker):
    from inventory.models import Asset

    assets = {a.key: a for a in Asset.objects.filter(protocol="sparkplug")}

    assert set(assets) == {f"{GROUP}/{NODE}", f"{GROUP}/{NODE}/{CNC}"}
    node = assets[f"{GROUP}/{NODE}"]
    assert node.identity["Birth metrics"] == ", ".join(sorted(NODE_METRICS))
    assert node.addresses == [f"mqtt://{broker.host}:{broker.port}"]
    assert node.device == Device.objects.get(sparkplug_edge_node_id=NODE, sparkplug_device_id="")
    assert assets[f"{GROUP}/{NODE}/{CNC}"].identity["Birth metrics"] == "Parts, Spindle/Speed"


def test_enabled_metrics_become_tags_that_pushed_devices_keep_out_of_celery_polling(edge, runner, plant):
    tags = _enable(runner, plant)

    assert set(tags) == {"Line speed", "Temperature", "Running", "Offset", "Status text", "Spindle/Speed", "Parts"}
    assert not Device.objects.filter(protocol=Protocol.SPARKPLUG, discovered=True).exists()
    assert Device.objects.filter(sparkplug_device_id=CNC, enabled=True).exists()
    assert not set(polled_assignments()) & set(
        Device.objects.filter(protocol=Protocol.SPARKPLUG).values_list("pk", flat=True)
    )
    assert DiscoveredMetric.objects.get(name="Status text").tag.data_type == "string"


def test_data_sent_by_alias_is_stored_at_the_metric_timestamp(edge, runner, plant):
    tags = _enable(runner, plant)
    at = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # after the births' values
    at_ms = int(at.timestamp() * 1000)

    edge.publish_data(
        {"Line speed": 12.5, "Offset": -3, "Running": True, "Status text": "Changeover"}, timestamp_ms=at_ms
    )
    edge.publish_data({"Spindle/Speed": 8000.0, "Parts": 41}, device_id=CNC, timestamp_ms=at_ms)
    step_until(runner.step, lambda: _samples(tags["Parts"])[-1][0] == at, timeout=20, what="the value sent by alias")

    assert _samples(tags["Line speed"])[-1] == (at, 12.5, Quality.GOOD)
    assert _samples(tags["Offset"])[-1] == (at, -3.0, Quality.GOOD)
    assert _samples(tags["Running"])[-1] == (at, 1.0, Quality.GOOD)
    assert _samples(tags["Spindle/Speed"])[-1] == (at, 8000.0, Quality.GOOD)
    assert _samples(tags["Status text"])[-1] == (at, "Changeover", Quality.GOOD)  # a string tag, stored as text
    assert _current(tags["Parts"]) == (at, 41.0, Quality.GOOD)
    cnc = Device.objects.get(sparkplug_device_id=CNC)
    assert cnc.status == DeviceStatus.CONNECTED


def test_a_sequence_gap_sends_a_rebirth_command_that_the_edge_node_receives(edge, runner, plant):
    tags = _enable(runner, plant)
    edge.rebirth_received.clear()
    requested = edge.rebirths_requested

    edge.publish_data({"Line speed": 1.0})  # in order: no rebirth
    step_until(runner.step, lambda: _current(tags["Line speed"])[1] == 1.0, timeout=20, what="the first value")
    assert edge.rebirths_requested == requested

    edge.publish_data({"Line speed": 2.0}, seq=(edge.seq + 5) % 256)
    step_until(
        runner.step, edge.rebirth_received.is_set, timeout=20, what="the edge node to receive the rebirth command"
    )

    assert edge.rebirths_requested == requested + 1
    step_until(
        runner.step, lambda: _current(tags["Line speed"])[1] == 2.0, timeout=20, what="the value after the gap"
    )  # the values of the gap still count
    state = runner.node_state(BrokerSettings(edge.host, edge.port), GROUP, NODE)
    step_until(
        runner.step, lambda: state.seq == edge.seq, timeout=20, what="the rebirth to be followed"
    )  # the rebirth (NBIRTH seq 0, DBIRTH 1) has been followed


def test_node_death_with_the_births_bdseq_marks_the_node_and_its_devices_bad(edge, runner, plant):
    tags = _enable(runner, plant)
    edge.publish_node_death(bd_seq=edge.bd_seq + 7)  # the will of some older session: ignored
    edge.publish_data({"Line speed": 3.0})
    step_until(
        runner.step, lambda: _current(tags["Line speed"])[1] == 3.0, timeout=20, what="the value before the death"
    )
    assert all(q == Quality.GOOD for t in tags.values() for _, _, q in _samples(t))

    edge.disconnect(send_death=True)
    step_until(
        runner.step,
        lambda: _current(tags["Parts"])[2] == Quality.BAD_COMM_FAILURE,
        timeout=20,
        what="the node's devices to go bad",
    )

    for tag in tags.values():
        assert _samples(tag)[-1][1:] == (None, Quality.BAD_COMM_FAILURE)
    assert set(Device.objects.filter(tags__isnull=False).values_list("status", flat=True)) == {DeviceStatus.ERROR}

    edge.connect()  # a new session (bdSeq + 1) and its births: good again
    step_until(
        runner.step,
        lambda: _current(tags["Parts"])[2] == Quality.GOOD,
        timeout=20,
        what="good values after the rebirth",
    )
    assert _samples(tags["Line speed"])[-1][2] == Quality.GOOD
    assert Device.objects.get(sparkplug_device_id=CNC).status == DeviceStatus.CONNECTED


def test_device_death_marks_only_that_device_bad(edge, runner, plant):
    tags = _enable(runner, plant)

    edge.publish_device_death(CNC)
    step_until(
        runner.step,
        lambda: _current(tags["Spindle/Speed"])[2] == Quality.BAD_COMM_FAILURE,
        timeout=20,
        what="the dead device to go bad",
    )

    assert _current(tags["Parts"])[2] == Quality.BAD_COMM_FAILURE
    assert _current(tags["Line speed"])[2] == Quality.GOOD
    assert Device.objects.get(sparkplug_device_id=CNC).status == DeviceStatus.ERROR
    assert Device.objects.get(sparkplug_edge_node_id=NODE, sparkplug_device_id="").status == DeviceStatus.CONNECTED


def test_a_device_taken_out_of_service_stores_nothing_until_it_is_back(
    edge, runner, plant, django_capture_on_commit_callbacks
):
    tags = _enable(runner, plant)
    cnc = Device.objects.get(sparkplug_device_id=CNC)
    runner.reload_seconds = 3600  # only the out-of-service notice may make it re-read the devices

    with django_capture_on_commit_callbacks(execute=True):
        device_enabled_set(device=cnc, enabled=False, user=None, context=runner.context)
    edge.publish_data({"Spindle/Speed": 7100.0, "Parts": 77}, device_id=CNC)
    edge.publish_device_death(CNC)
    edge.publish_data({"Line speed": 4.0})  # the node's data after it: once stored, the CNC's was seen
    step_until(
        runner.step,
        lambda: _current(tags["Line speed"])[1] == 4.0,
        timeout=20,
        what="the node's data sent after the device's",
    )

    for name in CNC_METRICS:
        assert _samples(tags[name])[-1][1:] == (None, Quality.BAD_OUT_OF_SERVICE)
        assert _current(tags[name])[1:] == (None, Quality.BAD_OUT_OF_SERVICE)
    assert Device.objects.get(pk=cnc.pk).status == DeviceStatus.DISABLED

    with django_capture_on_commit_callbacks(execute=True):
        device_enabled_set(device=cnc, enabled=True, user=None)  # the runner asks for a rebirth
    step_until(
        runner.step,
        lambda: _current(tags["Parts"])[2] == Quality.GOOD,
        timeout=20,
        what="good values after the rebirth",
    )
    assert Device.objects.get(pk=cnc.pk).status == DeviceStatus.CONNECTED


def test_historical_metrics_are_backfilled_without_changing_current_values(edge, runner, plant):
    tags = _enable(runner, plant)
    speed = tags["Line speed"]
    live = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # after the births' values
    edge.publish_data({"Line speed": 50.0}, timestamp_ms=int(live.timestamp() * 1000))
    step_until(runner.step, lambda: _current(speed) == (live, 50.0, Quality.GOOD), timeout=20, what="the live value")

    older, newer = live - timedelta(hours=1), live + timedelta(seconds=1)
    for moment, value in ((older, 7.0), (newer, 9.0)):  # even one newer than the current value is history only
        edge.publish_data({"Line speed": value}, timestamp_ms=int(moment.timestamp() * 1000), historical=True)
    step_until(runner.step, lambda: len(_samples(speed)) >= 4, timeout=20, what="the historical values")

    history = [(t, v) for t, v, _ in _samples(speed)]
    assert (older, 7.0) in history
    assert (newer, 9.0) in history
    assert _current(speed) == (live, 50.0, Quality.GOOD)


def _running_now(edge, runner, plant) -> tuple[Tag, list[datetime]]:
    """The Running tag, true and stored at the first of four moments a second apart (after the births' values)."""
    running = _enable(runner, plant)["Running"]
    now = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    moments = [now + timedelta(seconds=s) for s in range(4)]
    edge.publish_data({"Running": True}, timestamp_ms=int(moments[0].timestamp() * 1000))
    step_until(runner.step, lambda: _current(running) == (moments[0], 1.0, Quality.GOOD), timeout=20, what="true")
    return running, moments


def _history_from(tag: Tag, start: datetime) -> list[tuple[datetime, float]]:
    return [(t, v) for t, v, _ in _samples(tag) if t >= start]


def test_a_current_value_after_a_backlog_is_compared_with_the_backlog_not_with_what_came_before_it(edge, runner, plant):
    """A boolean is stored on change. Running = true now; a backlog then fills the history after it, ending false;
    the next current value, true again, is a change (from the backlog's false), though equal to the value the
    runner stored before the backlog came."""
    running, moments = _running_now(edge, runner, plant)
    for moment, value in ((moments[1], True), (moments[2], False)):
        edge.publish_data({"Running": value}, timestamp_ms=int(moment.timestamp() * 1000), historical=True)
    step_until(runner.step, lambda: (moments[2], 0.0, Quality.GOOD) in _samples(running), timeout=20, what="backlog")

    edge.publish_data({"Running": True}, timestamp_ms=int(moments[3].timestamp() * 1000))
    step_until(runner.step, lambda: _current(running) == (moments[3], 1.0, Quality.GOOD), timeout=20, what="true")

    assert _history_from(running, moments[0]) == list(zip(moments, [1.0, 1.0, 0.0, 1.0], strict=True))


def test_a_current_value_older_than_a_backlog_in_the_same_flush_is_history(edge, runner, plant):
    """One flush holds a current value (a birth's last value, say), a backlog newer than it, then a current value:
    the older current value is stored as history, so the newest is compared with the backlog and kept."""
    running, moments = _running_now(edge, runner, plant)
    waiting = runner._events.qsize()
    edge.publish_data({"Running": True}, timestamp_ms=int(moments[1].timestamp() * 1000))
    edge.publish_data({"Running": False}, timestamp_ms=int(moments[2].timestamp() * 1000), historical=True)
    edge.publish_data({"Running": True}, timestamp_ms=int(moments[3].timestamp() * 1000))
    wait_until(lambda: runner._events.qsize() >= waiting + 3, timeout=20, what="the three messages queued")

    runner.step()

    assert _history_from(running, moments[0]) == list(zip(moments, [1.0, 1.0, 0.0, 1.0], strict=True))
    assert _current(running) == (moments[3], 1.0, Quality.GOOD)


def test_a_payload_that_is_not_sparkplug_is_rejected_and_the_runner_goes_on(edge, runner, plant, broker):
    tags = _enable(runner, plant)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="garbage-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(f"spBv1.0/{GROUP}/NDATA/{NODE}", b"\xff\xff\xff", qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
    rejected: list[int] = []  # counted from every step, whichever flush() takes the message
    step_until(
        lambda: rejected.append(runner.step().rejected), lambda: sum(rejected), timeout=20, what="the garbage rejected"
    )
    edge.publish_data({"Line speed": 4.5})
    step_until(
        runner.step, lambda: _current(tags["Line speed"])[1] == 4.5, timeout=20, what="the value after the garbage"
    )


def test_the_runner_reconnects_after_the_broker_restarts(db, runner, tmp_path):
    own = MosquittoBroker(tmp_path).start()  # its own broker: restarted under the runner
    try:
        plant = _plant(own)
        _connected(runner, own)
        edge = SparkplugEdgeNode(
            host=own.host,
            port=own.port,
            group_id=GROUP,
            edge_node_id=NODE,
            node_metrics={"Line speed": DataType.DOUBLE},
        )
        edge.connect()
        step_until(runner.step, lambda: DiscoveredMetric.objects.exists(), timeout=20, what="the births")
        speed = _enable(runner, plant)["Line speed"]
        edge.publish_data({"Line speed": 5.0})
        step_until(runner.step, lambda: _current(speed)[1] == 5.0, timeout=20, what="the value before the restart")

        own.restart()
        step_until(
            runner.step,
            lambda: _current(speed)[2] == Quality.BAD_COMM_FAILURE,
            timeout=20,
            what="the broker's loss to be stored",
        )
        dropped_at = _current(speed)[0]
        broker_device = Device.objects.get(name="Plant MQTT broker")
        assert broker_device.status == DeviceStatus.ERROR

        # The edge node reconnects too (paho) and publishes births; the runner re-subscribes and asks for births.
        step_until(
            lambda: (_publish_quietly(edge, 6.0), runner.step()),
            lambda: _current(speed)[1] == 6.0,
            timeout=40,
            what="the value after the restart",
        )
        assert _current(speed)[0] > dropped_at
        assert _samples(speed)[-1][1:] == (6.0, Quality.GOOD)
        broker_device.refresh_from_db()
        assert broker_device.status == DeviceStatus.CONNECTED
        edge.disconnect(send_death=False)
    finally:
        own.stop()


def _publish_quietly(edge: SparkplugEdgeNode, value: float) -> None:
    edge.publish_data({"Line speed": value})  # QoS 0: lost while the edge node is still reconnecting
