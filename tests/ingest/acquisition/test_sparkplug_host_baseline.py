"""The Sparkplug B host's communication baseline against a real Mosquitto broker: unknown edge nodes and devices,
and commands that Millwright did not send, reported as security events with their evidence."""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from audit.models import AuditEvent
from historian.models import Device, Protocol
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.protocols.sparkplug.codec import DataType, MetricOut, payload_encode, rebirth_request
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode
from ingest.protocols.sparkplug.session import BrokerSettings
from inventory.models import Asset
from inventory.security_events import SecurityEvent, SecurityEventKind
from inventory.services.baseline import asset_baseline_accept
from tests.ingest.acquisition import test_sparkplug_host as host
from tests.ingest.acquisition.test_sparkplug_host import CNC, CNC_METRICS, GROUP, NODE, NODE_METRICS
from tests.mqtt_broker import MosquittoBroker
from tests.security_events import Collected, security_events_collected
from tests.waiting import step_until

pytestmark = pytest.mark.django_db

broker = host.broker  # the module's private Mosquitto
plant = host.plant  # a broker device for it, subscribed to every group
_connected = host._connected
_edge = host._edge  # edge node NODE (or another) of GROUP with one device, CNC


@pytest.fixture
def events() -> Iterator[Collected]:
    with security_events_collected() as received:
        yield received


@pytest.fixture
def runner() -> Iterator[SparkplugRunner]:
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0, command_report_seconds=0.0)
    yield runner
    runner.shutdown()


def _births_seen(runner: SparkplugRunner, node: str = NODE) -> None:
    step_until(
        runner.step,
        lambda: Asset.objects.filter(key__in=[f"{GROUP}/{node}", f"{GROUP}/{node}/{CNC}"]).count() == 2,
        timeout=20,
        what=f"the births of {node} and its device",
    )


def _of(events: list[SecurityEvent], kind: SecurityEventKind) -> list[SecurityEvent]:
    return [e for e in events if e.kind == kind]


def _settle(runner: SparkplugRunner, edge: SparkplugEdgeNode) -> None:
    """Publish one more NDATA and wait until the runner has followed it: everything before has been handled."""
    edge.publish_data({"Line speed": 42.0})
    settings = BrokerSettings(edge.host, edge.port)

    def followed() -> bool:
        state = runner.node_state(settings, GROUP, edge.edge_node_id)
        return state is not None and state.online and state.seq == edge.seq

    step_until(runner.step, followed, timeout=20, what="the runner to follow the last NDATA")


def test_an_unconfigured_edge_node_is_reported_once_per_appearance_with_its_birth(plant, broker, runner, events):
    _connected(runner, broker)
    edge = _edge(broker)
    edge.connect()
    try:
        _births_seen(runner)
        for value in (1.0, 2.0, 3.0):
            edge.publish_data({"Line speed": value})
        _settle(runner, edge)

        unknown = _of(events, SecurityEventKind.UNKNOWN_EDGE_NODE)
        assert len(unknown) == 1, [e.message for e in events]
        event = unknown[0]
        assert event.subject == f"sparkplug:{GROUP}/{NODE}"
        evidence = event.evidence
        assert (evidence["group"], evidence["edge_node"], evidence["broker"]) == (
            GROUP,
            NODE,
            f"mqtt://{broker.host}:{broker.port}",
        )
        # The first message heard is a birth (MQTT keeps one client's order): its metric names are the evidence.
        expected = {"NBIRTH": sorted(NODE_METRICS), "DBIRTH": sorted(CNC_METRICS)}
        assert evidence["metrics"] == expected[evidence["message_type"]]
        assert evidence["first_seen"] == event.at.isoformat()
        if evidence["message_type"] == "NBIRTH":
            assert event.asset_id == Asset.objects.get(key=f"{GROUP}/{NODE}").pk
            assert event.device_id == Device.objects.get(sparkplug_edge_node_id=NODE, sparkplug_device_id="").pk
        # Its devices are part of the node's event: no second event for them.
        assert not _of(events, SecurityEventKind.UNKNOWN_EDGE_DEVICE)

        edge.disconnect(send_death=True)  # gone ...
        edge.connect()  # ... and back: a new appearance
        _settle(runner, edge)
        assert len(_of(events, SecurityEventKind.UNKNOWN_EDGE_NODE)) == 2
    finally:
        edge.disconnect(send_death=False)


def test_a_configured_node_is_known_but_a_new_device_behind_it_is_reported(plant, broker, runner, events):
    Device.objects.create(
        name="Gateway 1",
        protocol=Protocol.SPARKPLUG,
        host=broker.host,
        port=broker.port,
        sparkplug_group_id=GROUP,
        sparkplug_edge_node_id=NODE,
    )
    _connected(runner, broker)
    edge = _edge(broker)
    edge.connect()
    try:
        _births_seen(runner)
        edge.publish_data({"Parts": 5}, device_id=CNC)
        _settle(runner, edge)

        assert not _of(events, SecurityEventKind.UNKNOWN_EDGE_NODE)
        unknown = _of(events, SecurityEventKind.UNKNOWN_EDGE_DEVICE)
        assert len(unknown) == 1, [e.message for e in events]
        event = unknown[0]
        assert event.subject == f"sparkplug:{GROUP}/{NODE}/{CNC}"
        assert (event.evidence["device"], event.evidence["message_type"]) == (CNC, "DBIRTH")
        assert event.evidence["metrics"] == sorted(CNC_METRICS)
        assert event.device_id == Device.objects.get(sparkplug_device_id=CNC, discovered=True).pk
        assert event.asset_id == Asset.objects.get(key=f"{GROUP}/{NODE}/{CNC}").pk
    finally:
        edge.disconnect(send_death=False)


def test_assets_accepted_into_the_baseline_are_no_longer_reported(plant, broker, runner, events, admin_user):
    _connected(runner, broker)
    edge = _edge(broker)
    edge.connect()
    try:
        _births_seen(runner)
        _settle(runner, edge)
        assert len(_of(events, SecurityEventKind.UNKNOWN_EDGE_NODE)) == 1
        for asset in Asset.objects.filter(protocol="sparkplug"):
            assert asset_baseline_accept(asset=asset, user=admin_user, remote_addr="10.0.0.9")
        assert AuditEvent.objects.filter(action="asset_baseline_accept", remote_addr="10.0.0.9").count() == 2
        events.clear()

        edge.disconnect(send_death=True)
        edge.connect()
        _settle(runner, edge)
        edge.publish_data({"Parts": 6}, device_id=CNC)
        _settle(runner, edge)

        assert events == []
        assert Asset.objects.get(key=f"{GROUP}/{NODE}").baseline_accepted_by == admin_user
    finally:
        edge.disconnect(send_death=False)


def _rogue_publish(broker: MosquittoBroker, topic: str, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rogue-commander")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_commands_millwright_did_not_send_are_reported_and_its_own_rebirths_are_not(plant, broker, runner, events):
    _connected(runner, broker)
    edge = _edge(broker)
    edge.connect()
    try:
        _births_seen(runner)
        _settle(runner, edge)
        edge.rebirth_received.clear()
        edge.publish_data({"Line speed": 1.0}, seq=(edge.seq + 5) % 256)  # a gap: the host asks for a rebirth
        step_until(runner.step, edge.rebirth_received.is_set, timeout=20, what="our rebirth request at the edge")
        _settle(runner, edge)
        # the echo of our own rebirth request comes back through our subscription, and is recognised as ours
        step_until(
            runner.step,
            lambda: not any(b.sent_commands for b in runner._brokers.values()),
            timeout=20,
            what="the echo of our own rebirth request",
        )
        assert not _of(events, SecurityEventKind.UNEXPECTED_COMMAND)

        dcmd = f"spBv1.0/{GROUP}/DCMD/{NODE}/{CNC}"
        _rogue_publish(broker, dcmd, payload_encode(metrics=[MetricOut("Spindle/Speed", 9999.5)], seq=0))
        step_until(
            runner.step,
            lambda: _of(events, SecurityEventKind.UNEXPECTED_COMMAND),
            timeout=20,
            what="the foreign DCMD reported",
        )
        # Another client sending exactly what a host sends (a rebirth request) is not us either.
        _rogue_publish(broker, f"spBv1.0/{GROUP}/NCMD/{NODE}", rebirth_request())
        step_until(
            runner.step,
            lambda: len(_of(events, SecurityEventKind.UNEXPECTED_COMMAND)) == 2,
            timeout=20,
            what="the foreign rebirth request reported",
        )

        write, rebirth = _of(events, SecurityEventKind.UNEXPECTED_COMMAND)
        assert write.subject == f"sparkplug-command:{GROUP}/{NODE}/{CNC}"
        assert write.evidence["topic"] == dcmd
        assert write.evidence["metrics"] == [{"name": "Spindle/Speed", "value": 9999.5}]
        assert write.evidence["device"] == CNC
        assert write.device_id == Device.objects.get(sparkplug_device_id=CNC).pk
        assert rebirth.evidence["metrics"] == [{"name": "Node Control/Rebirth", "value": True}]
        assert "did not send" in rebirth.message
    finally:
        edge.disconnect(send_death=False)


def test_unexpected_commands_on_one_topic_are_reported_at_most_every_interval(plant, broker, events):
    runner = SparkplugRunner(flush_seconds=0.05, command_report_seconds=3600.0)
    try:
        _connected(runner, broker)
        topic = f"spBv1.0/{GROUP}/NCMD/{NODE}"
        for n in range(3):
            _rogue_publish(broker, topic, payload_encode(metrics=[MetricOut("Setpoint", n, DataType.INT32)], seq=n))
        step_until(
            runner.step,
            lambda: runner._brokers and next(iter(runner._brokers.values())).commands_reported,
            timeout=20,
            what="a first foreign command reported",
        )
        broker_state = next(iter(runner._brokers.values()))
        step_until(
            runner.step,
            lambda: broker_state.commands_reported[f"sparkplug-command:{GROUP}/{NODE}"][1] == 2,
            timeout=20,
            what="the second command on the topic counted",
        )

        assert len(_of(events, SecurityEventKind.UNEXPECTED_COMMAND)) == 1
    finally:
        runner.shutdown()
