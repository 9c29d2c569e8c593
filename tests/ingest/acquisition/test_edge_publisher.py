"""The site's Sparkplug B edge publisher on a real Mosquitto: births, aliases, STATE, rebirth, historical values."""

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from historian.models import EdgePublication, Tag
from historian.sample_types import SampleRow
from ingest.acquisition.edge_publisher import EdgePublisher, state_topic
from ingest.pipeline.edge_outbox import edge_outbox
from ingest.protocols.sparkplug.codec import DataType, Payload, payload_decode, rebirth_request
from tests.factories import DeviceFactory, MachineFactory, TagFactory
from tests.mqtt_broker import MosquittoBroker, broker_or_skip
from tests.waiting import wait_until


@pytest.fixture
def broker(tmp_path) -> Iterator[MosquittoBroker]:
    with broker_or_skip(tmp_path) as server:
        yield server


class Listener:
    """A subscriber to everything on the broker, keeping (topic, payload) in arrival order."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"listener-{time.time_ns()}")
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("spBv1.0/#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def sparkplug(self, kind: str) -> list[tuple[str, Payload]]:
        with self._lock:
            return [(t, payload_decode(p)) for t, p in self.messages if t.split("/")[2] == kind]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listener(broker) -> Iterator[Listener]:
    client = Listener(broker)
    yield client
    client.close()


@pytest.fixture
def tags(db) -> list[Tag]:
    machine = MachineFactory(name="Press 1")
    device = DeviceFactory()
    return [
        TagFactory(machine=machine, device=device, name="temperature", units="°C", data_type="float32", scale=0.1),
        TagFactory(machine=machine, device=device, name="running", data_type="bool", address="C0"),
        TagFactory(machine=machine, device=device, name="count", data_type="uint16", edge_publish=False),
    ]


def _metrics(listener: Listener) -> int:
    return sum(len(p.metrics) for _, p in listener.sparkplug("DDATA"))


def _publication(broker: MosquittoBroker, **kwargs) -> EdgePublication:
    return EdgePublication.objects.create(
        name="to central", host=broker.host, port=broker.port, group_id="Plants", edge_node_id="Site A", **kwargs
    )


@pytest.fixture
def publisher(tags) -> Iterator[EdgePublisher]:
    Tag.objects.filter(pk__in=[tags[0].pk, tags[1].pk]).update(edge_publish=True)
    edge = EdgePublisher(reload_seconds=3600, ack_timeout=5)
    yield edge
    edge.shutdown()


def _step_until(publisher: EdgePublisher, condition, what: str):
    def stepped():
        publisher.step()
        return condition()

    return wait_until(stepped, timeout=20, what=what, interval=0.05)


def _ms(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _rows(tags: list[Tag], start: datetime, count: int) -> list[SampleRow]:
    """`count` values of each of the first two tags, a second apart from `start` (cut to the millisecond)."""
    start = _ms(start)
    return [
        SampleRow(start + timedelta(seconds=i), tag.pk, float(i % 2) if tag.data_type == "bool" else 20.5 + i, 0xC0)
        for i in range(count)
        for tag in tags[:2]
    ]


def test_births_announce_names_aliases_datatypes_units_then_data_goes_by_alias(broker, listener, tags, publisher):
    _publication(broker)
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    edge_outbox().append(_rows(tags, earlier, 3))
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "the outbox sent")
    wait_until(lambda: _metrics(listener) == 6, timeout=10, what="the data received")

    (nbirth_topic, nbirth), *_ = listener.sparkplug("NBIRTH")
    assert nbirth_topic == "spBv1.0/Plants/NBIRTH/Site A"
    assert nbirth.seq == 0
    assert {m.name: m.value for m in nbirth.metrics} == {"bdSeq": 0, "Node Control/Rebirth": False}
    [(dbirth_topic, dbirth)] = listener.sparkplug("DBIRTH")
    assert dbirth_topic == "spBv1.0/Plants/DBIRTH/Site A/Press 1"
    assert dbirth.seq == 1
    metrics = {m.name: m for m in dbirth.metrics}
    assert set(metrics) == {"temperature", "running"}  # `count` is not published
    assert metrics["temperature"].alias == tags[0].pk
    assert metrics["temperature"].datatype == DataType.DOUBLE  # a scaled value is a double
    assert metrics["temperature"].properties["engUnit"] == "°C"
    assert metrics["running"].datatype == DataType.BOOLEAN
    assert metrics["running"].alias == tags[1].pk
    assert all(m.is_null and m.is_transient for m in metrics.values())  # nothing sent yet: nothing to store

    data = listener.sparkplug("DDATA")
    assert [t for t, _ in data] == ["spBv1.0/Plants/DDATA/Site A/Press 1"] * len(data)
    sent = [m for _, p in data for m in p.metrics]
    assert all(m.name == "" and m.alias in (tags[0].pk, tags[1].pk) for m in sent)
    assert [(m.alias, m.timestamp, m.value, m.quality) for m in sent] == [
        (r.tag_id, r.time, bool(r.value) if r.tag_id == tags[1].pk else r.value, r.quality)
        for r in _rows(tags, earlier, 3)
    ]
    assert all(m.is_historical for m in sent)  # stored before the births: they waited
    assert [p.seq for _, p in data] == list(range(2, 2 + len(data)))

    # Values stored while publishing go out as current values; a rebirth announces the last one sent.
    now = datetime.now(UTC) + timedelta(seconds=1)
    edge_outbox().append(_rows(tags, now, 1))
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "the live value sent")
    wait_until(lambda: _metrics(listener) == 8, timeout=10, what="the live data received")
    live = [m for _, p in listener.sparkplug("DDATA")[len(data) :] for m in p.metrics]
    assert len(live) == 2
    assert not any(m.is_historical for m in live)
    listener.publish("spBv1.0/Plants/NCMD/Site A", rebirth_request())
    _step_until(publisher, lambda: len(listener.sparkplug("DBIRTH")) == 2, "a rebirth")
    reborn = {m.name: m for m in listener.sparkplug("DBIRTH")[1][1].metrics}
    assert reborn["temperature"].value == 20.5
    assert reborn["temperature"].timestamp == _ms(now)
    assert reborn["temperature"].quality == 0xC0
    assert not reborn["temperature"].is_transient
    nbirths = listener.sparkplug("NBIRTH")
    assert len(nbirths) == 2
    assert nbirths[1][1].seq == 0


def test_nothing_is_published_until_the_primary_host_is_online(broker, listener, tags, publisher):
    _publication(broker, primary_host_id="central")
    listener.publish(state_topic("central"), json.dumps({"online": False, "timestamp": 1000}).encode(), retain=True)
    edge_outbox().append(_rows(tags, datetime.now(UTC), 2))
    _step_until(publisher, lambda: publisher._session is not None and publisher._session.connected.is_set(), "link")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        publisher.step()
        time.sleep(0.05)
    assert listener.sparkplug("NBIRTH") == []
    assert listener.sparkplug("DDATA") == []
    assert edge_outbox().depth() == 4  # waiting on disk

    listener.publish(state_topic("central"), json.dumps({"online": True, "timestamp": 2000}).encode(), retain=True)
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "the values sent once the host is online")
    wait_until(lambda: len(listener.sparkplug("NBIRTH")) == 1, timeout=10, what="the birth received")

    # A late offline of an older host session is ignored; a newer one stops publishing again.
    listener.publish(state_topic("central"), json.dumps({"online": False, "timestamp": 1500}).encode())
    edge_outbox().append(_rows(tags, datetime.now(UTC) + timedelta(seconds=5), 1))
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "values sent after a stale STATE")
    listener.publish(state_topic("central"), json.dumps({"online": False, "timestamp": 3000}).encode())
    _step_until(publisher, lambda: not publisher.host_online, "the host seen offline")
    edge_outbox().append(_rows(tags, datetime.now(UTC) + timedelta(seconds=10), 1))
    for _ in range(10):
        publisher.step()
        time.sleep(0.05)
    # Waiting: the new value, and the six acknowledged in the last resend_seconds (the host may not have them).
    assert edge_outbox().depth() == 2 + 6
    assert publisher.resent == 6


def test_values_acknowledged_shortly_before_the_host_went_offline_go_again_as_historical(
    broker, listener, tags, publisher
):
    """The broker's PUBACK is not the host's: what it was forwarding when the host's link lapsed is lost, and the
    host's offline STATE comes only once the broker noticed. Values acknowledged within resend_seconds of that go
    again when the host is back; older ones do not."""
    publisher.resend_seconds = 1.5
    _publication(broker, primary_host_id="central")
    listener.publish(state_topic("central"), json.dumps({"online": True, "timestamp": 1000}).encode(), retain=True)
    start = datetime.now(UTC) - timedelta(minutes=1)
    early, late = _rows(tags, start, 1), _rows(tags, start + timedelta(seconds=10), 1)
    edge_outbox().append(early)
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "the early values sent")
    time.sleep(2.5)  # the early values' acknowledgement is now older than resend_seconds
    edge_outbox().append(late)
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "the late values sent")
    wait_until(lambda: _metrics(listener) == 4, timeout=10, what="both sent once")

    listener.publish(state_topic("central"), json.dumps({"online": False, "timestamp": 1000}).encode(), retain=True)
    _step_until(publisher, lambda: not publisher.host_online and publisher.resent == 2, "the late values requeued")
    assert edge_outbox().depth() == 2
    listener.publish(state_topic("central"), json.dumps({"online": True, "timestamp": 2000}).encode(), retain=True)
    _step_until(publisher, lambda: edge_outbox().depth() == 0, "the late values sent again")
    wait_until(lambda: _metrics(listener) == 6, timeout=10, what="the late values received again")

    again = [m for _, p in listener.sparkplug("DDATA")[-1:] for m in p.metrics]
    assert [(m.alias, m.timestamp, m.quality) for m in again] == [(r.tag_id, r.time, r.quality) for r in late]
    assert all(m.is_historical for m in again)
    assert len(listener.sparkplug("NBIRTH")) == 2  # born again for the host's new session


def test_the_host_runner_publishes_its_state_with_an_offline_will(broker, listener, db, settings):
    from ingest.acquisition.sparkplug_host import SparkplugRunner
    from tests.factories import DeviceFactory

    DeviceFactory(name="Broker", protocol="sparkplug", host=broker.host, port=broker.port)
    runner = SparkplugRunner(host_id="central", reload_seconds=3600)
    runner.step()
    states = lambda: [json.loads(p) for t, p in listener.messages if t == state_topic("central")]  # noqa: E731
    wait_until(lambda: states(), timeout=10, what="an online STATE")
    assert states()[0]["online"] is True
    runner.shutdown()
    wait_until(lambda: len(states()) == 2, timeout=10, what="an offline STATE on a clean stop")
    assert states()[1] == {"online": False, "timestamp": states()[0]["timestamp"]}


def test_a_text_tag_cannot_be_published(tags):
    from django.core.exceptions import ValidationError

    tag = TagFactory.build(
        machine=tags[0].machine,
        device=tags[0].device,
        scan_class=tags[0].scan_class,
        data_type="string",
        address="HR100:4",
        edge_publish=True,
    )
    with pytest.raises(ValidationError, match="Only numeric tags"):
        tag.full_clean()
