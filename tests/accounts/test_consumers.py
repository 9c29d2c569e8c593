"""The base of every WebSocket consumer counts its admitted sockets for Prometheus (common.metrics, real Redis):
one while it is open, none once it closed; a refused one never counts."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from accounts.consumers import WEBSOCKET_CLIENTS
from common.metrics import GAUGES_KEY, gauges_read, metrics_flush, metrics_forget
from common.redis import redis_client
from dashboards.consumers import CLOSE_UNAUTHENTICATED, LiveConsumer

pytestmark = pytest.mark.django_db(transaction=True)


def _clients() -> float:
    metrics_flush()
    return gauges_read().get((WEBSOCKET_CLIENTS, ()), 0)


async def _clients_become(count: int) -> float:
    """The gauge once it reads `count` (admission finishes after the handshake), or what it reads after 5 s."""
    for _ in range(100):
        if (got := _clients()) == count:
            return got
        await asyncio.sleep(0.05)
    return _clients()


@pytest.fixture(autouse=True)
def counted_afresh():
    metrics_forget()
    redis_client().delete(GAUGES_KEY)
    yield
    metrics_forget()


@pytest.fixture
def operator(make_user):
    return make_user("operator")


async def test_an_admitted_socket_counts_among_the_websocket_clients_until_it_closes(operator):
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = operator

    assert (await communicator.connect())[0]
    assert await _clients_become(1) == 1
    await communicator.disconnect()
    assert await _clients_become(0) == 0


async def test_a_refused_socket_is_not_counted():
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = AnonymousUser()

    assert (await communicator.connect())[0]
    assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
    await communicator.disconnect()
    assert _clients() == 0
