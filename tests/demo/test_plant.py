"""The demo plant loader: its OPC UA line reads, through the real driver and subscriptions, what the simulator's
OPC UA server serves; its Sparkplug B line, through a real Mosquitto, what the simulator's edge node publishes."""

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from common.net import free_port
from demo.plant import demo_plant_load
from demo.simulator.plant import MACHINE_SIGNALS, SIGNALS_BY_NAME, STATE_LABELS, machine_tag_address
from demo.simulator.production import DEMO_TIME_ZONE, PRODUCTS
from demo.simulator.sparkplug_plant import serve_plant_sparkplug
from historian.models import Device, DeviceStatus, Machine, Protocol, ScanClass, Site, Tag
from historian.models.tags import Interpolation
from historian.quality import Quality
from ingest.acquisition.poll import device_poll, polled_assignments
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.acquisition.subscriptions import SubscriptionRunner
from ingest.protocols.base import PointRequest
from ingest.protocols.registry import DriverRegistry
from ingest.protocols.sparkplug.session import BrokerSettings
from tests.mqtt_broker import MosquittoBroker, broker_or_skip
from tests.simulated_plant import plant_simulator
from tests.waiting import step_until, wait_until


@pytest.fixture
def opcua_demo_plant(db, opcua_plant_server):
    """The demo plant of the OPC UA test server's size (1 line, 2 machines), its one line over OPC UA."""
    return demo_plant_load(lines=1, machines_per_line=2, opcua_port=opcua_plant_server.port)


def test_the_opcua_line_reads_good_values_of_every_tag_through_the_driver(opcua_demo_plant, opcua_plant_server):
    device = Device.objects.get(protocol=Protocol.OPCUA)
    tags = list(Tag.objects.filter(device=device).order_by("pk"))
    assert len(tags) == 2 * len(MACHINE_SIGNALS) == opcua_demo_plant.tags
    assert opcua_demo_plant.protocols == (Protocol.OPCUA,)

    drivers = DriverRegistry()
    try:
        readings = drivers.driver_for(device).read(
            [PointRequest(t.pk, t.address, t.data_type, t.scale, t.offset) for t in tags]
        )
    finally:
        drivers.close_all()

    assert {r.tag_id: r.quality for r in readings} == {t.pk: Quality.GOOD for t in tags}
    energy = Tag.objects.get(path__endswith="CNC 101.energy_total")
    expected = opcua_plant_server.plant.machine(0, 0).values()["energy_total"]
    assert next(r.value for r in readings if r.tag_id == energy.pk) == pytest.approx(expected, rel=0.01)


def test_the_opcua_line_is_subscribed_not_polled(opcua_demo_plant):
    device = Device.objects.get(protocol=Protocol.OPCUA)
    assert device.use_subscriptions
    assert device.pk not in polled_assignments()
    tag_ids = set(Tag.objects.filter(device=device).values_list("pk", flat=True))
    runner = SubscriptionRunner(flush_seconds=0.1)
    runner.start()
    try:
        _step_until_every_tag_good(runner.step, tag_ids, line="the OPC UA line")
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


def test_the_machines_setpoint_feed_override_and_command_tags_are_writable_and_no_other(db):
    summary = demo_plant_load(lines=2, machines_per_line=2)

    writable = set(Tag.objects.filter(writable=True).values_list("path", flat=True))
    assert len(writable) == 3 * summary.machines
    assert {path.rsplit(".", 1)[1] for path in writable} == {"speed_setpoint", "feed_override", "command"}


@pytest.fixture
def broker(tmp_path) -> Iterator[MosquittoBroker]:
    with broker_or_skip(tmp_path) as server:
        yield server


@pytest.fixture
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread of its own (the simulator's, for its edge node); its tasks end with the test."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop

    async def _cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_the_sparkplug_line_gets_good_values_of_every_tag_from_the_simulators_edge_node(db, broker, event_loop_thread):
    plant = plant_simulator(lines=1, machines_per_line=2, seed=7)
    summary = demo_plant_load(
        lines=1, machines_per_line=2, sparkplug_broker=(broker.host, broker.port), sparkplug_line=1
    )
    assert summary.protocols == (Protocol.SPARKPLUG,)
    device = Device.objects.get(protocol=Protocol.SPARKPLUG)
    tag_ids = set(Tag.objects.filter(device=device).values_list("pk", flat=True))
    assert len(tag_ids) == 2 * len(MACHINE_SIGNALS)
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0)
    runner.step()  # listening before the births go out: the plant is not stepped here, so no data follows them
    assert runner.session(BrokerSettings(broker.host, broker.port)).wait_connected(10)
    edge = asyncio.run_coroutine_threadsafe(
        serve_plant_sparkplug(host=broker.host, port=broker.port, plant=plant, line_index=0), event_loop_thread
    )
    try:

        def step() -> None:
            assert not edge.done(), edge.exception()
            runner.step()

        _step_until_every_tag_good(step, tag_ids, line="the Sparkplug line")
    finally:
        runner.shutdown()
        edge.cancel()
    energy = Tag.objects.get(path__endswith="CNC 101.energy_total")
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM historian_current_value WHERE tag_id = %s", [energy.pk])
        assert cursor.fetchone()[0] == pytest.approx(plant.machine(0, 0).values()["energy_total"], rel=1e-6)
    assert not Device.objects.filter(discovered=True).exclude(sparkplug_device_id="").exists()


def test_without_a_broker_the_edge_node_waits_instead_of_stopping_the_simulator(event_loop_thread, caplog):
    plant = plant_simulator(lines=1, machines_per_line=1)
    edge = asyncio.run_coroutine_threadsafe(
        serve_plant_sparkplug(host="127.0.0.1", port=free_port(), plant=plant, line_index=0), event_loop_thread
    )
    try:
        # Its first connection attempt has failed and been handled: it goes on waiting rather than ending.
        wait_until(lambda: "waits for one" in caplog.text, timeout=15, what="the edge node's failed connection")
        assert not edge.done()
    finally:
        edge.cancel()


def _step_until_every_tag_good(step: Callable[[], object], tag_ids: set[int], *, line: str) -> None:
    """Run `step` (a push runner's) until every tag of `tag_ids` has a good sample."""

    def every_tag_good() -> bool:
        return _tags_with_good_samples(tag_ids) == tag_ids

    step_until(step, every_tag_good, timeout=20, what=f"a good value of every tag of {line}")


def _tags_with_good_samples(tag_ids: set[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tag_id FROM historian_sample WHERE tag_id = ANY(%s) AND quality = %s",
            [list(tag_ids), int(Quality.GOOD)],
        )
        return {row[0] for row in cursor.fetchall()}


def test_the_production_tags_are_configured_and_polled_over_modbus(demo_plant, plant_server, polling):
    """State, fault code, product and the two 16-bit counters of each machine: addresses, step interpolation, the
    counters' rollover, value labels; polled through the real driver and stored."""
    assert Site.objects.get(name="Demo Plant").timezone == DEMO_TIME_ZONE
    tags = {}
    for index, machine in enumerate(Machine.objects.order_by("name")):
        for name in ("state", "alarm_code", "product", "produced_count", "reject_count"):
            tag = Tag.objects.get(machine=machine, path__endswith=f".{name}")
            assert tag.address == machine_tag_address(index, SIGNALS_BY_NAME[name])
            assert (tag.data_type, tag.interpolation) == ("uint16", Interpolation.STEP)
            assert tag.is_discrete
            tags[tag.pk] = (index, name)
        assert machine.state_tag.path.endswith(".state")
        state_labels = {value: e.label for value, e in machine.state_tag.value_labels.by_value().items()}
        assert state_labels == {int(s): label for s, label in STATE_LABELS.items()}
        assert machine.state_tag.value_label(1) == "Running"
    product = Tag.objects.filter(path__endswith=".product").first()
    assert {value: e.label for value, e in product.value_labels.by_value().items()} == {
        p.code: p.name for p in PRODUCTS
    }
    alarm_code = Tag.objects.filter(path__endswith=".alarm_code").first()
    assert alarm_code.value_label(205) == "Hydraulic pressure low"
    assert Tag.objects.filter(path__endswith=".door_open").first().value_label(1) == "Open"
    counters = Tag.objects.filter(path__regex=r"\.(produced|reject)_count$")
    assert set(counters.values_list("counter_rollover", flat=True)) == {65536.0}
    assert set(Tag.objects.filter(path__endswith=".part_count").values_list("counter_rollover", flat=True)) == {None}

    device = Device.objects.get(protocol=Protocol.MODBUS)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=ScanClass.objects.get(name="Fast").pk)
    assert _tags_with_good_samples(set(tags)) == set(tags)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tag_id, value FROM historian_current_value WHERE tag_id = ANY(%s)", [list(tags)])
        stored = {tags[tag_id]: value for tag_id, value in cursor.fetchall()}
    assert len(stored) == len(tags)
    for (_, name), value in stored.items():
        if name == "product":
            assert int(value) in {p.code for p in PRODUCTS}
        elif name == "state":
            assert int(value) in {int(s) for s in STATE_LABELS}
