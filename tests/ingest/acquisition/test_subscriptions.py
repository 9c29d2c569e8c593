"""The OPC UA subscription runner against the simulated plant served by a real asyncua server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import connection, connections

from demo.simulator.opcua_server import OpcUaPlantServerThread, opcua_signal_node_id
from historian.models import Area, Device, DeviceStatus, Line, Machine, Protocol, ScanClass, Site, Tag
from historian.quality import Quality
from historian.queries.history import current_values
from ingest.acquisition.poll import polled_assignments
from ingest.acquisition.subscriptions import SubscriptionRunner
from ingest.services.devices import device_enabled_set
from tests.simulated_plant import plant_simulator
from tests.waiting import step_until, wait_until

SIGNALS = {
    "spindle_speed": "float32",
    "part_count": "uint32",
    "running": "bool",
    "state": "uint16",
    "motor_temperature": "float32",
}
#: The signal the tests wait on to change: the winding temperature's reading moves at every tick of the plant, while
#: the spindle speed stays at 0 for minutes while the machine is stopped (the session's server, seed 7, has a stop of
#: 500 s 23 minutes in; tests that waited for the speed to change failed when they ran in one).
CHANGING = "motor_temperature"


def _samples(tag_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT time, value, quality FROM historian_sample WHERE tag_id = %s ORDER BY time", [tag_id])
        return cursor.fetchall()


def _opcua_device(port: int, *, name: str = "CNC cell OPC UA", site: str = "OPC UA plant") -> Device:
    """A subscribed device with the OPC UA plant's first machine's signals, and a tag of a node the server lacks."""
    line = Line.objects.create(
        area=Area.objects.create(site=Site.objects.create(name=site), name="Machining"), name="Line 1"
    )
    machine = Machine.objects.create(line=line, name="CNC 101")
    scan_class, _ = ScanClass.objects.get_or_create(name="Subscribed", defaults={"period_ms": 200})
    device = Device.objects.create(
        name=name,
        protocol=Protocol.OPCUA,
        host="127.0.0.1",
        port=port,
        timeout_seconds=1.0,
        use_subscriptions=True,
        publishing_interval_ms=100,
    )
    for signal, data_type in SIGNALS.items():
        Tag.objects.create(
            path=f"{site}/Machining/Line 1/CNC 101.{signal}",
            name=signal,
            machine=machine,
            device=device,
            scan_class=scan_class,
            address=opcua_signal_node_id(0, 0, signal),
            data_type=data_type,
        )
    Tag.objects.create(
        path=f"{site}/Machining/Line 1/CNC 101.missing",
        name="missing",
        machine=machine,
        device=device,
        scan_class=scan_class,
        address="ns=2;s=Line1.CNC101.no_such_signal",
        data_type="float64",
    )
    return device


@pytest.fixture
def runner() -> Iterator[SubscriptionRunner]:
    runner = SubscriptionRunner(flush_seconds=0.1)
    runner.start()
    yield runner
    runner.shutdown()


def test_subscribed_values_land_in_the_database_with_good_quality(db, opcua_plant_server, runner):
    device = _opcua_device(opcua_plant_server.port)
    tags = {t.name: t for t in Tag.objects.filter(device=device)}

    step_until(
        runner.step, lambda: all(_samples(tags[s].pk) for s in SIGNALS), timeout=20, what="a value of every signal"
    )

    for signal in SIGNALS:
        _time, value, quality = _samples(tags[signal].pk)[0]
        assert quality == Quality.GOOD
        assert value is not None
    assert _samples(tags["running"].pk)[0][1] in (0.0, 1.0)
    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
    assert device.last_good_read_at is not None


def test_a_subscribed_server_is_put_in_the_asset_inventory_with_its_build_info(db, opcua_plant_server, runner):
    from inventory.models import Asset

    device = _opcua_device(opcua_plant_server.port)

    step_until(
        runner.step,
        lambda: Asset.objects.filter(device=device).exists(),
        timeout=20,
        what="the server in the asset inventory",
    )

    asset = Asset.objects.get(device=device)
    assert (asset.protocol, asset.key) == ("opcua", device.opcua_endpoint)
    assert asset.identity["ProductUri"]
    # the endpoints it offers are its baseline (ingest.acquisition.identify): this server, no security
    assert [(e["mode"], e["policy"], e["tokens"]) for e in asset.endpoints] == [("None", "None", "Anonymous")]


def test_a_node_the_server_does_not_know_gets_config_error_quality(db, opcua_plant_server, runner):
    device = _opcua_device(opcua_plant_server.port)
    missing = Tag.objects.get(device=device, name="missing")

    step_until(runner.step, lambda: bool(_samples(missing.pk)), timeout=20, what="the unknown node's quality")

    (_, value, quality) = _samples(missing.pk)[0]
    assert (value, quality) == (None, Quality.BAD_CONFIG_ERROR)
    device.refresh_from_db()
    assert "no_such_signal" in device.last_error


def test_values_keep_arriving_as_the_plant_changes(db, opcua_plant_server, runner):
    device = _opcua_device(opcua_plant_server.port)
    temperature = Tag.objects.get(device=device, name=CHANGING)
    temperature.historize = True
    temperature.save()

    step_until(
        runner.step, lambda: len({row[0] for row in _samples(temperature.pk)}) >= 3, timeout=20, what="three values"
    )


def test_the_publishing_interval_follows_the_scan_class_and_arrivals_are_stored_without_waiting_for_a_tick(
    transactional_db, opcua_plant_server
):
    device = _opcua_device(opcua_plant_server.port)
    device.publishing_interval_ms = 500
    device.save()
    one_second = ScanClass.objects.create(name="One second", period_ms=1000)
    Tag.objects.filter(device=device).update(scan_class=one_second)
    temperature = Tag.objects.get(device=device, name=CHANGING)
    # The runner as run_subscriptions runs it, with an idle tick far longer than the test: only an arrival of
    # values can wake it to store them.
    runner = SubscriptionRunner(flush_seconds=600)
    stop = threading.Event()

    def run() -> None:
        try:
            runner.run(stop=stop)
        finally:
            connections.close_all()  # this thread's connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        subscription = wait_until(lambda: runner.subscription(device.pk), timeout=20, what="the subscription")
        # a tenth of the 1 s scan period, under the device's 500 ms
        assert subscription.publishing_interval_ms == 100
        wait_until(
            lambda: len({row[1] for row in _samples(temperature.pk)}) >= 2,
            timeout=20,
            what="two values of the motor temperature stored as they change",
        )
        stored = current_values(tag_ids=[temperature.pk])[temperature.pk]
        assert stored.quality == Quality.GOOD
    finally:
        stop.set()
        runner.wake()
        thread.join(30)
    assert not thread.is_alive()


def test_subscribed_devices_are_not_polled_by_the_poller(db, opcua_plant_server):
    device = _opcua_device(opcua_plant_server.port)
    scan_class = ScanClass.objects.get(name="Subscribed")
    assert device.pk not in polled_assignments()
    Device.objects.filter(pk=device.pk).update(use_subscriptions=False)
    assert polled_assignments()[device.pk] == {scan_class.pk: scan_class.period_ms}


def test_a_device_switched_off_is_unsubscribed_at_the_next_reload(db, opcua_plant_server, runner):
    device = _opcua_device(opcua_plant_server.port)
    runner.step()
    assert runner.subscription(device.pk) is not None
    Device.objects.filter(pk=device.pk).update(enabled=False)
    runner.sync()
    assert runner.subscription(device.pk) is None


@pytest.mark.slow
def test_server_restart_mid_subscription_stores_bad_quality_then_resubscribes(db, settings, runner):
    settings.INGEST_BACKOFF_MAX_SECONDS = 1.0
    server = OpcUaPlantServerThread(plant_simulator(lines=1, machines_per_line=1, seed=3), tick_seconds=0.2).start()
    try:
        device = _opcua_device(server.port)
        temperature = Tag.objects.get(device=device, name=CHANGING)
        step_until(runner.step, lambda: bool(_samples(temperature.pk)), timeout=20, what="a first value")
        subscription = runner.subscription(device.pk)
        assert subscription is not None
        assert subscription.connects == 1

        server.stop()
        step_until(
            runner.step,
            lambda: any(q == Quality.BAD_COMM_FAILURE for _, _, q in _samples(temperature.pk)),
            timeout=20,
            what="the server's loss to be stored",
        )
        device.refresh_from_db()
        assert device.status == DeviceStatus.ERROR
        assert "OPC UA server" in device.last_error

        server.start()
        dropped_at = next(t for t, _, q in _samples(temperature.pk) if q == Quality.BAD_COMM_FAILURE)
        step_until(
            runner.step,
            lambda: any(t > dropped_at and q == Quality.GOOD for t, _, q in _samples(temperature.pk)),
            timeout=30,
            what="good values after the server's return",
        )
        assert subscription.connects == 2  # the same subscription object reconnected and re-created its items
        device.refresh_from_db()
        assert device.status == DeviceStatus.CONNECTED
    finally:
        server.stop()


def test_a_device_taken_out_of_service_is_disconnected_at_once_and_stays_out_of_service(
    db, opcua_plant_server, runner, django_capture_on_commit_callbacks
):
    device = _opcua_device(opcua_plant_server.port)
    other = _opcua_device(opcua_plant_server.port, name="CNC cell OPC UA (other)", site="Other OPC UA plant")
    tags = list(Tag.objects.filter(device=device, name__in=SIGNALS))
    other_temperature = Tag.objects.get(device=other, name=CHANGING)
    step_until(runner.step, lambda: all(_samples(t.pk) for t in tags), timeout=20, what="a value of every signal")
    runner.reload_seconds = 3600  # only the out-of-service notice may make it re-read the devices

    with django_capture_on_commit_callbacks(execute=True):
        device_enabled_set(device=device, enabled=False, user=None, context=runner.context)
    runner.step()

    assert runner.subscription(device.pk) is None
    # The plant changes every 0.2 s: once the other device, subscribed to the same nodes, has stored three later
    # values, this one would have too.
    seen = len(_samples(other_temperature.pk))
    step_until(
        runner.step, lambda: len(_samples(other_temperature.pk)) >= seen + 3, timeout=20, what="three later values"
    )
    for tag in tags:
        assert _samples(tag.pk)[-1][1:] == (None, Quality.BAD_OUT_OF_SERVICE)
    assert {cv.quality for cv in current_values(tag_ids=[t.pk for t in tags]).values()} == {Quality.BAD_OUT_OF_SERVICE}
    device.refresh_from_db()
    assert device.status == DeviceStatus.DISABLED

    with django_capture_on_commit_callbacks(execute=True):
        device_enabled_set(device=device, enabled=True, user=None)
    step_until(
        runner.step,
        lambda: all(_samples(t.pk)[-1][2] == Quality.GOOD for t in tags),
        timeout=20,
        what="good values after the return to service",
    )
    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
