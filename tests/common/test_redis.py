import uuid

from channels_redis.core import RedisChannelLayer
from django.conf import settings

from common.redis import channel_layer_host, redis_client


def test_every_caller_shares_one_client_per_url_and_it_reaches_the_test_redis():
    key = f"test-{uuid.uuid4().hex}"
    client = redis_client()
    client.set(key, "1", ex=5)

    assert redis_client() is client
    assert redis_client(url=settings.REDIS_URL).get(key) == b"1"


def test_the_channel_layer_socket_outwaits_its_blocking_receive():
    """A socket timeout at or under channels_redis' BZPOPMIN wait kills an idle WebSocket consumer."""
    layer_host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]

    assert layer_host == channel_layer_host(settings.REDIS_URL)
    assert layer_host["socket_timeout"] > RedisChannelLayer.brpop_timeout
