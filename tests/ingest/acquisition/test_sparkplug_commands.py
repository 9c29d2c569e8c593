"""Sparkplug B writes from another process: the Redis request/reply channel to the runner holding the broker's MQTT
session, against a real Redis, Mosquitto and edge node; no runner, a dead one and a late request send nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from common.redis import redis_client
from historian.models import Device, Protocol
from ingest.acquisition.sparkplug_commands import (
    QUEUE_PREFIX,
    REPLY_PREFIX,
    ROLL_PREFIX,
    SparkplugCommandServer,
    broker_key,
    sparkplug_command_send,
)
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.protocols.base import PointRequest, WriteOutcome, WriteStatus
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode
from ingest.protocols.sparkplug.session import BrokerSettings
from tests.mqtt_broker import MosquittoBroker, broker_or_skip
from tests.waiting import wait_until

GROUP, NODE, CNC = "Plant8", "Gateway8", "CNC801"


@pytest.fixture
def broker(tmp_path) -> Iterator[MosquittoBroker]:
    with broker_or_skip(tmp_path) as server:
        yield server


@pytest.fixture
def device(db, broker: MosquittoBroker) -> Device:
    return Device.objects.create(
        name="CNC 801",
        protocol=Protocol.SPARKPLUG,
        host=broker.host,
        port=broker.port,
        sparkplug_group_id=GROUP,
        sparkplug_edge_node_id=NODE,
        sparkplug_device_id=CNC,
    )


def _queue(device: Device) -> str:
    return QUEUE_PREFIX + broker_key(BrokerSettings(device.host, device.port))


def test_with_no_runner_connected_the_write_fails_at_once_and_nothing_is_queued(device: Device) -> None:
    outcome = sparkplug_command_send(device=device, point=PointRequest(1, "Speed", "float32"), value=5.0, timeout=5)

    assert outcome.status == WriteStatus.FAILED
    assert not outcome.sent
    assert "no Sparkplug host (manage.py run_sparkplug) is connected" in outcome.error
    assert outcome.seconds < 5  # it did not wait for the timeout
    assert redis_client().llen(_queue(device)) == 0


@pytest.mark.serial
def test_a_runner_that_died_on_the_roll_takes_nothing_and_the_request_is_taken_back(device: Device) -> None:
    roll = ROLL_PREFIX + broker_key(BrokerSettings(device.host, device.port))
    redis_client().zadd(roll, {"killed-9": time.time() + 30})  # its place has not lapsed yet
    try:
        outcome = sparkplug_command_send(device=device, point=PointRequest(1, "Speed", "float32"), value=5, timeout=0.2)
    finally:
        redis_client().delete(roll)

    assert outcome.status == WriteStatus.FAILED
    assert not outcome.sent
    assert "no Sparkplug host took the write in time: nothing was sent" in outcome.error
    assert redis_client().llen(_queue(device)) == 0


def test_a_request_taken_after_its_send_by_instant_is_answered_unsent(device: Device) -> None:
    sent: list[object] = []

    def command(*args: object) -> WriteOutcome:
        sent.append(args)
        return WriteOutcome(WriteStatus.CONFIRMED, 1.0, sent=True)

    point = {"tag_id": 1, "address": "Speed", "data_type": "float32"}
    request = {
        "id": "late",
        "device": device.pk,
        "point": point,
        "value": 1.0,
        "timeout": 1,
        "send_by": time.time() - 1,
    }
    redis_client().rpush(_queue(device), json.dumps(request))
    server = SparkplugCommandServer(
        command=command, brokers=lambda: [BrokerSettings(device.host, device.port)], device=lambda pk: device
    )
    server.start()
    try:
        reply = redis_client().blpop([REPLY_PREFIX + "late"], timeout=4)
    finally:
        server.stop()

    assert reply is not None
    answer = json.loads(reply[1])
    assert (answer["status"], answer["sent"]) == ("failed", False)
    assert "waited too long" in answer["error"]
    assert sent == []


@pytest.fixture
def edge(broker: MosquittoBroker) -> Iterator[SparkplugEdgeNode]:
    node = SparkplugEdgeNode(
        host=broker.host,
        port=broker.port,
        group_id=GROUP,
        edge_node_id=NODE,
        node_metrics={},
        devices={CNC: {"Spindle/Setpoint": DataType.FLOAT}},
    )
    yield node
    node.disconnect(send_death=False)


def test_a_write_through_the_channel_is_confirmed_by_the_runner_holding_the_session(
    device: Device, edge: SparkplugEdgeNode
) -> None:
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0)
    server = runner.command_server()
    try:
        edge.connect()

        def born() -> bool:  # the runner stepped here: its database work stays in the test's transaction
            runner.step()
            state = runner.node_state(BrokerSettings(edge.host, edge.port), GROUP, NODE)
            if state is None or (CNC, "Spindle/Setpoint") not in state.metrics:
                edge.publish_births()  # until the runner has subscribed
                return False
            return True

        wait_until(born, timeout=20, what="the runner holding the device's birth", interval=0.3)
        server.start()
        wait_until(lambda: server.serving, timeout=10, what="the runner on the broker's roll")
        point = PointRequest(1, "Spindle/Setpoint", "float32", scale=10.0)

        outcome = sparkplug_command_send(device=device, point=point, value=1234.5, timeout=5)
    finally:
        server.stop()
        runner.shutdown()

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.sent
    assert outcome.written == pytest.approx(123.45)
    assert outcome.read_back == pytest.approx(1234.5)
    assert edge.writes_received == [(CNC, "Spindle/Setpoint", pytest.approx(123.45))]
    roll = ROLL_PREFIX + broker_key(BrokerSettings(device.host, device.port))
    assert redis_client().zcard(roll) == 0  # a runner that stops leaves the roll
