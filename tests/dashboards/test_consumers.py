"""The live WebSocket consumer over the real Redis channel layer."""

import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from alarms.services.live import ALARMS_GROUP, ALARMS_MESSAGE_TYPE
from dashboards.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, LiveConsumer, PageConsumer
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.live import live_samples_message, machine_live_group

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(make_user):
    return make_user("operator")


async def _connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = user
    return communicator


async def test_an_anonymous_browser_is_accepted_then_closed_with_4401():
    """Accepted first: a refused handshake reaches the page as a bare 403 and its 4401 branch would never run."""
    communicator = await _connect(AnonymousUser())
    assert (await communicator.connect())[0]
    assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
    await communicator.disconnect()


async def test_a_subscriber_receives_the_batches_of_its_machine(operator, machine, machine_tags):
    communicator = await _connect(operator)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
    assert await communicator.receive_json_from() == {"type": "subscribed", "machines": [machine.pk]}

    rows = [SampleRow(timezone.now(), t.pk, 1.5, Quality.GOOD) for t in machine_tags[:3]]
    await get_channel_layer().group_send(machine_live_group(machine.pk), live_samples_message(machine.pk, rows))
    message = await communicator.receive_json_from(timeout=5)

    assert message["type"] == "samples"
    assert message["machine"] == machine.pk
    assert [s[0] for s in message["samples"]] == [t.pk for t in machine_tags[:3]]
    await communicator.disconnect()


async def test_a_browser_gets_nothing_of_machines_it_did_not_subscribe(operator, machine, demo_plant):
    from historian.models import Machine

    other = await Machine.objects.exclude(pk=machine.pk).afirst()
    communicator = await _connect(operator)
    await communicator.connect()
    await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
    await communicator.receive_json_from()

    layer = get_channel_layer()
    await layer.group_send(machine_live_group(other.pk), live_samples_message(other.pk, []))
    # A later batch of its own machine arrives first: the other machine's batch, sent before it, never came.
    await layer.group_send(machine_live_group(machine.pk), live_samples_message(machine.pk, []))
    assert (await communicator.receive_json_from(timeout=5))["machine"] == machine.pk
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        (json.dumps({"action": "drop_tables"}), "Unknown action"),
        (json.dumps({"action": "subscribe", "machines": "all"}), "non-empty list"),
        (json.dumps({"action": "subscribe", "machines": [True]}), "non-empty list"),
        (json.dumps({"action": "subscribe", "machines": [999999]}), "Unknown machines"),
        ("x" * 5000, "too large"),
    ],
)
async def test_a_hostile_message_gets_a_clear_error_and_the_link_stays(operator, demo_plant, frame, error):
    communicator = await _connect(operator)
    await communicator.connect()

    await communicator.send_to(text_data=frame)
    replies = [await communicator.receive_json_from()]
    if replies[0]["type"] == "subscribed":
        replies.append(await communicator.receive_json_from())

    assert replies[-1]["type"] == "error"
    assert error in replies[-1]["message"]
    await communicator.send_json_to({"action": "unsubscribe", "machines": [1]})
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    await communicator.disconnect()


async def test_too_many_subscriptions_are_refused(operator, demo_plant):
    communicator = await _connect(operator)
    await communicator.connect()
    await communicator.send_json_to({"action": "subscribe", "machines": list(range(1, 202))})
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error"
    assert "At most" in reply["message"]
    await communicator.disconnect()


@pytest.mark.serial
async def test_every_open_page_hears_how_a_polled_device_link_is_doing(
    operator, device, scan_class, plant_server, polling
):
    from channels.db import database_sync_to_async

    from ingest.acquisition.poll import device_poll

    communicator = await _connect(operator)
    assert (await communicator.connect())[0]

    await database_sync_to_async(device_poll)(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    connected = await communicator.receive_json_from(timeout=5)
    plant_server.stop()
    await database_sync_to_async(device_poll)(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    lost = await communicator.receive_json_from(timeout=5)

    assert connected["type"] == "device"
    assert connected["device"]["id"] == device.pk
    assert connected["device"]["status"] == "connected"
    assert connected["device"]["last_good_read"] is not None
    assert lost["device"]["status"] == "error"
    assert lost["device"]["retries"] == 1
    assert lost["device"]["last_error"]
    await communicator.disconnect()


def _user_with(django_user_model, name: str, *permissions: str):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(name, password=f"pw-{name}-1")
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return django_user_model.objects.get(pk=user.pk)


async def _page_socket(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(PageConsumer.as_asgi(), "/ws/page/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    return communicator


async def test_the_page_socket_carries_live_values_and_alarms_on_one_connection(operator, machine, machine_tags):
    communicator = await _page_socket(operator)
    assert (await communicator.receive_json_from())["type"] == "counts"  # the alarm banner's first message
    await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
    assert await communicator.receive_json_from() == {"type": "subscribed", "machines": [machine.pk]}
    await communicator.send_json_to({"action": "snapshot"})
    assert (await communicator.receive_json_from())["type"] == "snapshot"

    rows = [SampleRow(timezone.now(), machine_tags[0].pk, 1.5, Quality.GOOD)]
    await get_channel_layer().group_send(machine_live_group(machine.pk), live_samples_message(machine.pk, rows))
    assert (await communicator.receive_json_from(timeout=5))["type"] == "samples"
    await communicator.disconnect()


async def test_the_page_socket_checks_each_stream_on_its_own(django_user_model, machine):
    from channels.db import database_sync_to_async

    alarms_only = await database_sync_to_async(_user_with)(django_user_model, "alarms_only", "alarms.view_alarm")
    plant_only = await database_sync_to_async(_user_with)(django_user_model, "plant_only", "historian.view_plant")

    communicator = await _page_socket(alarms_only)
    assert (await communicator.receive_json_from())["type"] == "counts"
    await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
    assert await communicator.receive_json_from() == {
        "type": "error",
        "stream": "live",
        "message": "You may not view the plant's live values.",
    }
    layer = get_channel_layer()
    await layer.group_send(machine_live_group(machine.pk), live_samples_message(machine.pk, []))
    # An alarm change sent after it arrives first: the live batch, sent before it, never came.
    await layer.group_send(ALARMS_GROUP, {"type": ALARMS_MESSAGE_TYPE, "alarms": [], "counts": {}, "new": []})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "alarms"
    await communicator.disconnect()

    communicator = await _page_socket(plant_only)
    await communicator.send_json_to({"action": "snapshot"})
    assert await communicator.receive_json_from() == {
        "type": "error",
        "stream": "alarms",
        "message": "You may not view alarms.",
    }
    await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
    assert await communicator.receive_json_from() == {"type": "subscribed", "machines": [machine.pk]}
    await communicator.disconnect()


async def test_the_page_socket_closes_a_user_with_no_stream_with_4403(django_user_model, demo_plant):
    from channels.db import database_sync_to_async

    nobody = await database_sync_to_async(_user_with)(django_user_model, "nobody")
    communicator = await _page_socket(nobody)
    assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_an_idle_live_socket_stays_open_for_a_minute_and_still_receives(operator, machine, machine_tags):
    """Nothing flows for 60 s (a PLC outage, a quiet night): every blocking receive of the Redis channel layer ends
    empty, and the consumer must wait on, not die on a socket timeout and drop the browser's socket."""
    communicator = await _connect(operator)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
    assert await communicator.receive_json_from() == {"type": "subscribed", "machines": [machine.pk]}

    assert await communicator.receive_nothing(timeout=60, interval=1)

    rows = [SampleRow(timezone.now(), machine_tags[0].pk, 2.5, Quality.GOOD)]
    await get_channel_layer().group_send(machine_live_group(machine.pk), live_samples_message(machine.pk, rows))
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "samples"
    assert [s[0] for s in message["samples"]] == [machine_tags[0].pk]
    await communicator.disconnect()
