import uuid

from django.conf import settings

from common.redis import redis_client


def test_every_caller_shares_one_client_per_url_and_it_reaches_the_test_redis():
    key = f"test-{uuid.uuid4().hex}"
    client = redis_client()
    client.set(key, "1", ex=5)

    assert redis_client() is client
    assert redis_client(url=settings.REDIS_URL).get(key) == b"1"

