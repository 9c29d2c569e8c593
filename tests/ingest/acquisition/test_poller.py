"""The poller in-process, against the real Modbus plant server, the test database and the test Redis."""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from historian.models import Device, ScanClass, Tag
from historian.quality import Quality
from ingest.acquisition import poller as poller_module
from ingest.acquisition.poll import config_poll
from ingest.acquisition.poller import Poller, next_tick, poller_stats_read
from ingest.services.devices import device_enabled_set
from tests.tcp_proxy import TcpProxy
from tests.waiting import stays_false, wait_until

PERIOD_MS = 200


def _sample_times(tag_id: int) -> list[float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM time)::float8 FROM historian_sample WHERE tag_id = %s ORDER BY time", [tag_id]
        )
        return [t for (t,) in cursor.fetchall()]


def _published(poller: Poller) -> float:
    """When the poller last published its statistics (after each lease renewal); 0 before the first."""
    return poller_stats_read().get(poller.owner, {}).get("published", 0.0)


@pytest.fixture
def fast_plant(transactional_db, demo_plant, scan_class) -> ScanClass:
    """The demo plant's 1 s scan class made 200 ms (the poller threads need committed data: transactional_db)."""
    ScanClass.objects.filter(pk=scan_class.pk).update(period_ms=PERIOD_MS)
    return scan_class


@pytest.fixture
def other_device(fast_plant, device, plant_server) -> Device:
    """A second device on the same plant server, with copies of five of the first's tags in the 200 ms scan."""
    other = Device.objects.create(name="Line 1 PLC (copy)", host=plant_server.host, port=plant_server.port)
    for tag in Tag.objects.filter(device=device)[:5]:
        Tag.objects.create(
            path=f"{tag.path}.copy", name=tag.name, machine=tag.machine, device=other, scan_class=fast_plant,
            address=tag.address, data_type=tag.data_type,
        )  # fmt: skip
    return other


def counted(polls: Counter) -> Callable[..., object]:
    """The real poll, counting its calls by device id as they start (so a poll in flight is already counted)."""

    def poll(config, **kwargs):
        polls[config.device.pk] += 1
        return config_poll(config, **kwargs)

    return poll


@pytest.fixture
def make_poller() -> Iterator[Callable[..., Poller]]:
    started: list[Poller] = []

    def make(**kwargs) -> Poller:
        poller = Poller(threads=kwargs.pop("threads", 2), lease_seconds=kwargs.pop("lease_seconds", 3), **kwargs)
        poller.start()
        started.append(poller)
        return poller

    yield make
    for poller in started:
        poller.stop(timeout=10)


def test_next_tick_is_the_next_multiple_of_the_period_from_the_epoch():
    assert next_tick(100.0, 0.2) == pytest.approx(100.2)
    assert next_tick(100.05, 0.2) == pytest.approx(100.2)
    assert next_tick(99.99, 1.0) == 100.0


def test_the_poller_polls_each_device_once_per_tick_of_its_scan_class(fast_plant, device, make_poller):
    tag = Tag.objects.filter(device=device, data_type="float32").order_by("pk").first()
    poller = make_poller()

    wait_until(lambda: poller.stats.polls["stored"] >= 5, timeout=20, what="five polls")  # counted once stored

    times = _sample_times(tag.pk)
    slots = [int(t // (PERIOD_MS / 1000)) for t in times]
    assert len(times) >= 5
    assert len(set(slots)) == len(slots)  # one stored value per tick, never two
    assert poller.devices == {device.pk}


def test_a_tick_that_comes_while_the_device_is_still_polling_is_skipped_not_queued(
    fast_plant, device, plant_server, make_poller
):
    with TcpProxy(plant_server.host, plant_server.port) as proxy:
        Device.objects.filter(pk=device.pk).update(port=proxy.port)
        proxy.delay = 0.1  # each of the device's read requests now takes 0.1 s: a poll outlasts the 0.2 s scan
        poller = make_poller()
        wait_until(lambda: poller.stats.polls["skipped"] >= 2, timeout=20, what="skipped ticks")
        poller.stop(timeout=10)

    assert poller.stats.polls["stored"] >= 1
    assert poller.stats.polls["failed"] == 0


def test_a_device_disabled_in_admin_is_let_go_within_seconds_with_its_open_segment_closed(
    fast_plant, device, other_device, make_poller
):
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")
    Tag.objects.filter(pk=speed.pk).update(compression_deviation=1e9)  # every value fits the first segment
    polls: Counter = Counter()
    poller = make_poller(poll=counted(polls))
    # A device's polls never overlap: its fifth poll starts after its fourth is stored.
    wait_until(lambda: polls[device.pk] >= 5, timeout=20, what="four polls of the device")
    assert len(_sample_times(speed.pk)) == 1  # the first value; the latest one is the held candidate

    # As admin does (the configuration token changes), with the poller's store context: as if the service ran in
    # the poller's process, it stores the held candidate before the out-of-service row.
    device_enabled_set(device=device, enabled=False, user=None, context=poller.polling.ingest)

    wait_until(lambda: poller.devices == {other_device.pk}, timeout=5, what="the poller to let the device go")
    # The segment's end point (stored by the service, which was given the poller's context) and the
    # out-of-service row.
    assert len(_sample_times(speed.pk)) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT quality FROM historian_sample WHERE tag_id = %s ORDER BY time", [speed.pk])
        assert [q for (q,) in cursor.fetchall()] == [Quality.GOOD, Quality.GOOD, Quality.BAD_OUT_OF_SERVICE]
    # Three later ticks of the same scan class poll the other device, and not this one.
    disabled_polls, other_polls = polls[device.pk], polls[other_device.pk]
    wait_until(lambda: polls[other_device.pk] >= other_polls + 3, timeout=10, what="three later scans")
    assert polls[device.pk] == disabled_polls
    assert len(_sample_times(speed.pk)) == 3


def test_two_pollers_never_poll_the_same_device_and_a_stopped_ones_devices_are_taken_over(
    fast_plant, device, make_poller
):
    first = make_poller()
    wait_until(lambda: first.devices == {device.pk}, timeout=10, what="the first poller to claim the device")
    second = make_poller()
    # Two lease renewals of the second poller, the later one well after it saw the first poller's lease.
    renewed = wait_until(lambda: _published(second), timeout=10, what="the second poller's first lease renewal")
    wait_until(lambda: _published(second) > renewed, timeout=10, what="the second poller's next lease renewal")
    assert second.devices == set()  # one device: its fair share is the first's

    first.stop(timeout=10)  # gives its leases back

    wait_until(lambda: second.devices == {device.pk}, timeout=10, what="the second poller to take the device over")
    polls = second.stats.polls["stored"]
    wait_until(lambda: second.stats.polls["stored"] > polls, timeout=10, what="the second poller to poll")


def test_polls_of_different_devices_run_at_the_same_time(fast_plant, device, other_device, make_poller):
    """A slow device does not delay another: each device's poll runs in its own thread of the pool."""
    running: set[int] = set()
    overlapped = threading.Event()
    lock = threading.Lock()

    def slow_poll(config, **kwargs):
        with lock:
            running.add(config.device.pk)
            if len(running) > 1:
                overlapped.set()
        time.sleep(0.1)
        with lock:
            running.discard(config.device.pk)

    make_poller(poll=slow_poll)

    assert overlapped.wait(10)


def test_the_pollers_loop_survives_a_redis_outage_and_keeps_polling(fast_plant, device, make_poller, monkeypatch):
    poller = make_poller()
    wait_until(lambda: poller.stats.polls["stored"] >= 2, timeout=10, what="polls")

    def down(*args, **kwargs):
        raise poller_module.redis.ConnectionError("Redis is away")

    monkeypatch.setattr(poller.leases, "sync", down)
    poller._next_lease_sync = 0  # renew now
    polls = poller.stats.polls["stored"]

    wait_until(lambda: poller.stats.polls["stored"] >= polls + 3, timeout=10, what="polls during the outage")
    assert poller.devices == {device.pk}


def test_a_poller_that_cannot_renew_its_heartbeat_starts_no_poll_past_it_and_resumes_after(
    fast_plant, device, make_poller, monkeypatch
):
    """A stalled heartbeat (a long pause, an overloaded host) may lapse and let another worker take the device:
    polls stop before that can happen, not when the poller learns of it."""
    poller = make_poller(heartbeat_seconds=0.6)
    wait_until(lambda: poller.stats.polls["stored"] >= 2, timeout=10, what="polls")
    stalled = threading.Event()
    resume = threading.Event()
    beat = poller.leases.beat

    def stuck():
        stalled.set()
        resume.wait(30)
        return beat()

    monkeypatch.setattr(poller.leases, "beat", stuck)
    assert stalled.wait(5)

    wait_until(lambda: poller.stats.polls["fenced"] >= 2, timeout=10, what="ticks fenced off")
    stored = poller.stats.polls["stored"]
    assert stays_false(lambda: poller.stats.polls["stored"] > stored, seconds=1.0)

    monkeypatch.setattr(poller.leases, "beat", beat)
    resume.set()
    wait_until(lambda: poller.stats.polls["stored"] > stored, timeout=10, what="polls after the heartbeat")
