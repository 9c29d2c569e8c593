"""Version tokens and what a process keeps under them, against a real Redis server stopped and started mid-run."""

from collections.abc import Iterator

import pytest

from common.version_token import TokenCached, VersionToken
from tests.redis_server import PrivateRedis
from tests.waiting import wait_until

KEY = "tests:version"


@pytest.fixture
def private_redis(settings, tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}}
    yield server
    server.stop()


class Loads:
    """A load function that counts its calls (what the database would be asked)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        self.count += 1
        return self.count


def test_a_value_is_loaded_once_and_again_when_another_process_moves_the_token(private_redis):
    loads = Loads()
    cached = TokenCached(VersionToken(KEY, retry_seconds=0.1), loads)
    elsewhere = VersionToken(KEY)  # another process's view of the same token

    assert [cached.get(), cached.get()] == [1, 1]
    elsewhere.bump()
    assert [cached.get(), cached.get()] == [2, 2]


def test_while_redis_is_stopped_values_come_from_the_database_and_catch_up_when_it_returns(private_redis):
    loads = Loads()
    token = VersionToken(KEY, retry_seconds=0.1)
    cached = TokenCached(token, loads, fallback_seconds=0.2)
    elsewhere = VersionToken(KEY)
    assert cached.get() == 1
    before = token.read()

    private_redis.stop()
    assert token.read() is None
    elsewhere.bump()  # a change made during the outage: its bump is lost, and does not raise
    assert cached.get() == 1  # what it had, at once (no wait on Redis)
    wait_until(lambda: cached.get() > 1, timeout=10, what="a reload from the database while Redis is away")

    private_redis.start()
    token_now = wait_until(lambda: token.read(create=True), timeout=10, what="the token readable again")
    assert token_now != before  # an empty Redis: a new token
    during = loads.count
    assert cached.get() == during + 1  # loaded once more under the token
    assert cached.get() == during + 1  # and kept
