"""The alarm definitions in memory per process, and their version token: evaluation must not depend on Redis
(issue 11.6), against a real Redis server stopped and started again mid-run."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from alarms.models import JournalEntry
from alarms.services.definitions import DEFINITIONS_TOKEN, VERSION_KEY
from tests.redis_server import PrivateRedis
from tests.samples import reading_store
from tests.waiting import wait_until

T0 = datetime(2026, 3, 1, 4, 41, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def private_redis(settings, tmp_path) -> Iterator[PrivateRedis]:
    """The cache (version tokens) and the channel layer (live pushes) on a Redis server of this test's own."""
    server = PrivateRedis(tmp_path).start()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}}
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [server.url]}}
    }
    yield server
    server.stop()


def _journal(definition) -> list[tuple]:
    return list(
        JournalEntry.objects.filter(alarm_id=definition.pk).order_by("time", "id").values_list("event", "time", "value")
    )


def test_alarms_are_raised_and_journalled_while_redis_is_stopped_and_after_it_returns(
    ingest_context, private_redis, define, signals, device
):
    temp = signals["motor_temperature"]
    hot = define(temp, kind="hi", limit=85.0, deadband=1.0)
    reading_store(ingest_context, device, temp, at(0), 40.0)  # definitions loaded under the token Redis holds
    assert cache.get(VERSION_KEY) is not None

    private_redis.stop()
    assert not private_redis.answers()
    during = [reading_store(ingest_context, device, temp, at(s), v) for s, v in ((1, 90.0), (2, 40.0))]

    assert [o.stored for o in during] == [1, 1]  # the values are stored as ever
    assert _journal(hot) == [("activate", at(1), 90.0), ("clear", at(2), 40.0)]

    private_redis.start()  # an empty Redis: the token is gone, which means a reload
    reading_store(ingest_context, device, temp, at(3), 95.0)  # at once (the token is not asked for again for a moment)
    assert _journal(hot)[-1] == ("activate", at(3), 95.0)
    wait_until(lambda: DEFINITIONS_TOKEN.read(create=True), timeout=10, what="the token read from Redis again")
    reading_store(ingest_context, device, temp, at(4), 40.0)

    assert _journal(hot)[-1] == ("clear", at(4), 40.0)


def test_a_definition_saved_while_redis_is_stopped_is_saved_and_applies(
    ingest_context, private_redis, define, signals, device
):
    temp = signals["motor_temperature"]
    hot = define(temp, kind="hi", limit=85.0, deadband=1.0)
    reading_store(ingest_context, device, temp, at(0), 40.0)
    other_process_token = cache.get(VERSION_KEY)

    private_redis.stop()
    hot.limit = 50.0
    hot.save()  # saving works without Redis (the token bump is logged, not raised)
    reading_store(ingest_context, device, temp, at(1), 60.0)
    private_redis.start()
    cache.set(VERSION_KEY, other_process_token, timeout=None)  # as if the token had survived the outage
    reading_store(ingest_context, device, temp, at(2), 40.0)

    assert _journal(hot) == [("activate", at(1), 60.0), ("clear", at(2), 40.0)]
