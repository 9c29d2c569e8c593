"""Sparkplug B writes: the host runner's NCMD / DCMD against a real Mosquitto broker, confirmed by the edge node's
echo; the simulator's edge node applying them to its machines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from demo.simulator.plant import MachineCommand, MachineState, PlantSimulator
from demo.simulator.sparkplug_plant import SPARKPLUG_GROUP, sparkplug_metric_name
from historian.models import Device, Protocol
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.protocols.base import PointRequest, WriteStatus
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode
from ingest.protocols.sparkplug.session import BrokerSettings
from inventory.security_events import SecurityEventKind
from tests.mqtt_broker import MosquittoBroker
from tests.security_events import security_events_collected
from tests.simulated_plant import sparkplug_plant_edge
from tests.waiting import wait_until

GROUP, NODE, CNC = "Plant9", "Gateway9", "CNC901"


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[MosquittoBroker]:
    if MosquittoBroker.executable() is None:
        pytest.skip("no MQTT broker: mosquitto is not installed (Debian: apt-get install mosquitto)")
    server = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"no MQTT broker: {exc}")
    yield server
    server.stop()


@pytest.fixture
def runner(db, broker: MosquittoBroker) -> Iterator[SparkplugRunner]:
    Device.objects.create(name="Broker", protocol=Protocol.SPARKPLUG, host=broker.host, port=broker.port)
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0)
    runner.step()
    session = runner.session(BrokerSettings(broker.host, broker.port))
    assert session is not None
    assert session.wait_connected(10)
    yield runner
    runner.shutdown()


def _step_until(runner: SparkplugRunner, condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within 20 s"
        runner.step()
        time.sleep(0.05)


def _edge_device(runner: SparkplugRunner, group: str, node: str, device_id: str = "") -> Device:
    """The device the runner discovered from the births (what an administrator would then configure)."""

    def found() -> Device | None:
        return Device.objects.filter(
            sparkplug_group_id=group, sparkplug_edge_node_id=node, sparkplug_device_id=device_id
        ).first()

    _step_until(runner, found, f"birth of {group}/{node}/{device_id}")
    device = found()
    assert device is not None
    return device


@pytest.fixture
def edge(broker: MosquittoBroker) -> Iterator[SparkplugEdgeNode]:
    node = SparkplugEdgeNode(
        host=broker.host,
        port=broker.port,
        group_id=GROUP,
        edge_node_id=NODE,
        node_metrics={"Mode": DataType.INT16},
        devices={CNC: {"Spindle/Setpoint": DataType.FLOAT, "Enabled": DataType.BOOLEAN, "Recipe": DataType.STRING}},
    )
    yield node
    node.disconnect(send_death=False)


def test_a_dcmd_by_alias_is_confirmed_by_the_device_data_echo(runner: SparkplugRunner, edge: SparkplugEdgeNode):
    edge.connect()
    device = _edge_device(runner, GROUP, NODE, CNC)
    _step_until(runner, lambda: runner.node_state(BrokerSettings(edge.host, edge.port), GROUP, NODE), "node state")

    runner.step()  # the births handled: what follows is the commands and their echoes
    with security_events_collected() as events:
        outcome = runner.command(device, PointRequest(1, "Spindle/Setpoint", "float32", scale=10.0), 1234.5, timeout=5)
        assert runner.command(device, PointRequest(2, "Enabled", "bool"), True, timeout=5).confirmed
        assert runner.command(device, PointRequest(3, "Recipe", "string"), "R-17", timeout=5).confirmed
        handled = [0]

        def both_echoes_handled() -> bool:  # each command seen back on its DCMD topic, and the DDATA answering it
            handled[0] += runner.step().messages
            return handled[0] >= 6

        wait_until(both_echoes_handled, timeout=10, what="the commands and their echoes handled by the runner")

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.written == 123.45
    assert outcome.read_back == pytest.approx(1234.5)
    assert edge.writes_received[0] == (CNC, "Spindle/Setpoint", pytest.approx(123.45))
    assert [w[1:] for w in edge.writes_received[1:]] == [("Enabled", True), ("Recipe", "R-17")]
    assert not events.of(SecurityEventKind.UNEXPECTED_COMMAND)  # our own commands are not a security event


def test_an_ncmd_to_a_node_metric_and_a_refusal_before_sending(runner: SparkplugRunner, edge: SparkplugEdgeNode):
    edge.connect()
    node_device = _edge_device(runner, GROUP, NODE)
    _edge_device(runner, GROUP, NODE, CNC)  # both births seen

    assert runner.command(node_device, PointRequest(1, "Mode", "int16"), -3, timeout=5).confirmed
    refused = runner.command(node_device, PointRequest(1, "Mode", "float64"), 70000, timeout=5)

    assert refused.status == WriteStatus.FAILED
    assert not refused.sent
    assert "out of range for an Int16" in refused.error
    assert edge.writes_received == [("", "Mode", -3)]


def test_no_echo_within_the_timeout_is_a_failed_write(runner: SparkplugRunner, edge: SparkplugEdgeNode) -> None:
    edge.on_write = lambda _device_id, _name, _value: None  # an edge node that ignores the command
    edge.connect()
    device = _edge_device(runner, GROUP, NODE, CNC)

    outcome = runner.command(device, PointRequest(1, "Enabled", "bool"), True, timeout=0.5)

    assert outcome.status == WriteStatus.FAILED
    assert outcome.sent
    assert "did not publish the metric within 0.5 s" in outcome.error
    assert outcome.seconds >= 0.5


def test_a_metric_without_a_birth_is_refused(runner: SparkplugRunner, broker: MosquittoBroker) -> None:
    device = Device(
        name="Never born",
        protocol=Protocol.SPARKPLUG,
        host=broker.host,
        port=broker.port,
        sparkplug_group_id="Nobody",
        sparkplug_edge_node_id="Nowhere",
    )

    outcome = runner.command(device, PointRequest(1, "X", "float64"), 1.0, timeout=0.5)

    assert outcome.status == WriteStatus.FAILED
    assert not outcome.sent
    assert "no birth seen" in outcome.error


@pytest.fixture
def plant_edge(broker: MosquittoBroker) -> Iterator[PlantSimulator]:
    """Line 1 of a plant as the simulator's Sparkplug edge node, the plant stepped in the same loop."""
    with sparkplug_plant_edge(host=broker.host, port=broker.port, seed=4) as plant:
        yield plant


def test_the_simulated_machine_follows_a_setpoint_and_commands_sent_over_sparkplug(
    runner: SparkplugRunner, plant_edge: PlantSimulator
) -> None:
    device = _edge_device(runner, SPARKPLUG_GROUP, "Line1")
    machine = plant_edge.machine(0, 1)

    def point(signal: str, data_type: str) -> PointRequest:
        return PointRequest(1, sparkplug_metric_name(0, 1, signal), data_type)

    runner.command(device, point("command", "uint16"), MachineCommand.RESET_FAULT, timeout=1)  # in case it is down
    assert runner.command(device, point("command", "uint16"), MachineCommand.START, timeout=5).confirmed
    outcome = runner.command(device, point("speed_setpoint", "float32"), 1777.0, timeout=5)
    assert outcome.status == WriteStatus.CONFIRMED, outcome
    wait_until(lambda: abs(machine.speed - 1777.0) < 20, timeout=15, what="the spindle at its new setpoint")

    clamped = runner.command(device, point("speed_setpoint", "float32"), 8000.0, timeout=1)
    assert clamped.status == WriteStatus.MISMATCHED
    assert clamped.read_back == 3600.0

    assert runner.command(device, point("command", "uint16"), MachineCommand.STOP, timeout=5).confirmed
    wait_until(lambda: machine.state == MachineState.IDLE and machine.speed == 0.0, timeout=15, what="machine stopped")
