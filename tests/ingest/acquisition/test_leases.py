import time
import uuid

import pytest
import redis

from common.redis import redis_client
from ingest.acquisition import leases
from ingest.acquisition.leases import DeviceLeases


@pytest.fixture
def client(monkeypatch) -> redis.Redis:
    """The test Redis, with this test's own key names (parallel test runs share a server)."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setattr(leases, "KEY_PREFIX", prefix + leases.KEY_PREFIX)
    monkeypatch.setattr(leases, "POLLERS_KEY", prefix + leases.POLLERS_KEY)
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
    a = DeviceLeases(client, owner="a", ttl_seconds=0.3)
    b = DeviceLeases(client, owner="b", ttl_seconds=0.3)
    a.sync({1, 2})
    b.sync({1, 2})
    a.sync({1, 2})
    assert b.sync({1, 2}) == {2}

    time.sleep(0.4)  # a is gone: no renewal, no release

    assert b.sync({1, 2}) == {1, 2}


def test_a_lease_taken_by_another_poller_is_not_renewed_nor_released(client):
    a = DeviceLeases(client, owner="a", ttl_seconds=5)
    a.sync({1})
    client.set(f"{leases.KEY_PREFIX}1", "b")  # e.g. a's lease lapsed while it was paused and b claimed it

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
