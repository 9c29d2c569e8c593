import uuid

import pytest
import redis

from common.redis import redis_client
from ingest.acquisition import leases
from ingest.acquisition.leases import Beat, DeviceLeases, TakeOver
from tests.waiting import wait_until


@pytest.fixture
def client(monkeypatch) -> redis.Redis:
    """The test Redis, with this test's own key names (parallel test runs share a server)."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setattr(leases, "KEY_PREFIX", prefix + leases.KEY_PREFIX)
    monkeypatch.setattr(leases, "POLLERS_KEY", prefix + leases.POLLERS_KEY)
    monkeypatch.setattr(leases, "ALIVE_PREFIX", prefix + leases.ALIVE_PREFIX)
    monkeypatch.setattr(leases, "HOLDERS_KEY", prefix + leases.HOLDERS_KEY)
    client = redis_client()
    yield client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_a_lone_poller_claims_every_device(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=5)

    assert a.sync({1, 2, 3}) == {1, 2, 3}
    assert client.get(f"{leases.KEY_PREFIX}2") == b"a"


def test_two_pollers_share_the_devices_without_overlap(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=5)
    b = DeviceLeases(client, owner="b", ttl_seconds=5)
    devices = {1, 2, 3, 4, 5}
    a.sync(devices)

    assert b.sync(devices) == set()  # a holds them all until it renews
    held_a = a.sync(devices)  # a sees two pollers and sheds its surplus
    held_b = b.sync(devices)

    assert len(held_a) == 3
    assert held_b == devices - held_a


def test_the_devices_of_a_poller_that_died_are_taken_over_when_its_leases_lapse(client):
    # a's leases live 1 s; b's outlive the test, so that a busy machine pausing b cannot lapse b's own lease too.
    a = DeviceLeases(client, owner="a", ttl_seconds=1)
    b = DeviceLeases(client, owner="b", ttl_seconds=60)
    a.sync({1, 2})
    b.sync({1, 2})
    a.sync({1, 2})
    assert b.sync({1, 2}) == {2}

    # a is gone (no renewal, no release): its lease on device 1 and its heartbeat lapse in Redis.
    wait_until(
        lambda: not client.exists(f"{leases.KEY_PREFIX}1", f"{leases.ALIVE_PREFIX}a"),
        timeout=15,
        what="a's lease and heartbeat to lapse",
    )

    assert b.sync({1, 2}) == {1, 2}
    assert [t.device_id for t in b.take_overs_pop()] == [1]  # came out of a's death: its gap gets marked


def test_a_lease_taken_by_another_poller_is_not_renewed_nor_released(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=5)
    a.sync({1})
    client.set(f"{leases.KEY_PREFIX}1", "b")  # e.g. a's lease lapsed while it was paused and b claimed it
    client.set(f"{leases.ALIVE_PREFIX}b", "1", ex=5)  # b lives

    assert a.sync({1}) == set()
    assert client.get(f"{leases.KEY_PREFIX}1") == b"b"


def test_a_device_no_longer_wanted_and_a_stopping_poller_give_their_leases_back(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=5)
    a.sync({1, 2})

    assert a.sync({2}) == {2}
    assert client.get(f"{leases.KEY_PREFIX}1") is None
    a.release_all()
    assert client.get(f"{leases.KEY_PREFIX}2") is None
    assert client.zscore(leases.POLLERS_KEY, "a") is None


def test_a_dead_pollers_devices_are_taken_over_once_its_heartbeat_lapses_long_before_its_leases(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=60, heartbeat_seconds=0.3)
    b = DeviceLeases(client, owner="b", ttl_seconds=60, heartbeat_seconds=5)
    a.sync({1, 2})
    last_beat = client.zscore(leases.POLLERS_KEY, "a")
    assert b.sync({1, 2}) == set()  # a is alive: nothing is taken from it

    wait_until(lambda: not client.exists(f"{leases.ALIVE_PREFIX}a"), timeout=5, what="a's heartbeat to lapse")

    assert client.pttl(f"{leases.KEY_PREFIX}1") > 50_000  # its leases have most of their life ahead
    assert b.sync({1, 2}) == {1, 2}
    assert b.take_overs_pop() == [TakeOver(1, "a", last_beat), TakeOver(2, "a", last_beat)]
    assert b.take_overs_pop() == []


def test_the_devices_of_a_poller_that_stopped_cleanly_are_claimed_without_a_take_over(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=60, heartbeat_seconds=5)
    b = DeviceLeases(client, owner="b", ttl_seconds=60, heartbeat_seconds=5)
    a.sync({1, 2})
    a.release_all()

    assert b.sync({1, 2}) == {1, 2}
    assert b.take_overs_pop() == []


def test_a_poller_whose_heartbeat_lapsed_learns_it_and_keeps_only_what_was_not_taken(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=60, heartbeat_seconds=5)
    b = DeviceLeases(client, owner="b", ttl_seconds=60, heartbeat_seconds=5)
    a.sync({1, 2})
    client.delete(f"{leases.ALIVE_PREFIX}a")  # a paused past its heartbeat ...
    b.sync({1})  # ... and b took device 1 meanwhile

    assert a.beat().lapsed
    assert a.sync({1, 2}) == {2}
    assert not a.beat().lapsed


def test_pollers_see_each_other_alive_and_a_dead_one_on_the_roll(client):
    # a's heartbeat lives 1.5 s: long enough that a busy machine does not lapse it before b looks.
    a = DeviceLeases(client, owner="a", ttl_seconds=60, heartbeat_seconds=1.5)
    b = DeviceLeases(client, owner="b", ttl_seconds=60, heartbeat_seconds=30)
    a.beat()
    assert b.beat().live == 2

    wait_until(lambda: not client.exists(f"{leases.ALIVE_PREFIX}a"), timeout=10, what="a's heartbeat to lapse")

    assert b.beat() == Beat(lapsed=False, live=1, dead=frozenset({"a"}))
