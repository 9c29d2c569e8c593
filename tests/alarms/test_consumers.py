"""The alarm WebSocket consumer over the real Redis channel layer: auth, snapshot, permission-checked actions."""

import json
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from alarms.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, AlarmConsumer
from alarms.models import Alarm
from alarms.services.evaluation import alarms_evaluate_strict
from historian.quality import Quality
from historian.sample_types import SampleRow

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def hot(define, signals):
    temp = signals["motor_temperature"]
    hi = define(temp, name="hi", kind="hi", limit=85, priority="high")
    alarms_evaluate_strict(rows=[SampleRow(T0, temp.pk, 90.0, Quality.GOOD)], now=T0)
    return hi


async def _connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(AlarmConsumer.as_asgi(), "/ws/alarms/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    assert connected, code
    hello = await communicator.receive_json_from()
    assert hello["type"] == "counts"
    return communicator


async def test_an_anonymous_browser_is_accepted_then_closed_with_4401():
    """Accepted first: a refused handshake reaches the page as a bare 403 and its 4401 branch would never run."""
    communicator = WebsocketCommunicator(AlarmConsumer.as_asgi(), "/ws/alarms/")
    communicator.scope["user"] = AnonymousUser()
    assert (await communicator.connect())[0]
    assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
    await communicator.disconnect()


async def test_a_user_without_alarm_permission_is_accepted_then_closed_with_4403(stranger):
    communicator = WebsocketCommunicator(AlarmConsumer.as_asgi(), "/ws/alarms/")
    communicator.scope["user"] = stranger
    assert (await communicator.connect())[0]
    assert await communicator.receive_output() == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    await communicator.disconnect()


async def test_a_snapshot_lists_the_alarms_and_what_the_user_may_do(hot, operator, viewer):
    for user, may in ((operator, True), (viewer, False)):
        communicator = await _connect(user)
        await communicator.send_json_to({"action": "snapshot"})
        snapshot = await communicator.receive_json_from()
        assert [(a["id"], a["state"]) for a in snapshot["alarms"]] == [(hot.pk, "unack_active")]
        assert snapshot["counts"]["unacknowledged"]["high"] == 1
        assert snapshot["can"] == {"acknowledge": may, "shelve": may}
        await communicator.disconnect()


async def test_an_acknowledgement_reaches_every_open_browser(hot, operator, viewer):
    acting = await _connect(operator)
    watching = await _connect(viewer)

    await acting.send_json_to({"action": "acknowledge", "alarms": [hot.pk], "comment": "seen"})

    pushed = [await acting.receive_json_from(timeout=5), await acting.receive_json_from(timeout=5)]
    done = next(m for m in pushed if m["type"] == "done")
    assert done["done"] == [hot.pk]
    update = await watching.receive_json_from(timeout=5)
    assert update["type"] == "alarms"
    assert update["alarms"][0]["state"] == "ack_active"
    assert update["alarms"][0]["acknowledged_by"] == "operator"
    await acting.disconnect()
    await watching.disconnect()


async def test_a_user_without_permission_is_refused_and_nothing_changes(hot, viewer):
    communicator = await _connect(viewer)
    await communicator.send_json_to({"action": "shelve", "alarms": [hot.pk], "minutes": 10})
    reply = await communicator.receive_json_from()
    assert reply == {"type": "error", "stream": "alarms", "message": "You may not shelve alarms."}
    assert await database_sync_to_async(lambda: Alarm.objects.get(pk=hot.pk).shelved_until)() is None
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "must be an object"),
        (json.dumps({"action": "delete_all"}), "Unknown action"),
        (json.dumps({"action": "acknowledge", "alarms": "all"}), "list of 1 to"),
        (json.dumps({"action": "acknowledge", "alarms": [True]}), "list of 1 to"),
        (json.dumps({"action": "acknowledge", "alarms": list(range(501))}), "list of 1 to"),
        (json.dumps({"action": "shelve", "alarms": [1], "minutes": "lots"}), "Shelve for 1 to"),
        (json.dumps({"action": "acknowledge", "alarms": [1], "comment": 5}), "comment must be text"),
        ("x" * 20000, "too large"),
    ],
)
async def test_a_hostile_message_gets_a_clear_error_and_the_link_stays(hot, operator, frame, error):
    communicator = await _connect(operator)
    await communicator.send_to(text_data=frame)
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error"
    assert error in reply["message"]
    await communicator.send_json_to({"action": "snapshot"})
    assert (await communicator.receive_json_from())["type"] == "snapshot"
    await communicator.disconnect()


async def test_security_alarms_stream_only_to_who_may_see_them(no_demo_alarms, django_user_model):
    from accounts.services.roles import Role
    from alarms.services.security import security_alarm_raise
    from inventory.security_events import SecurityEvent, SecurityEventKind
    from tests.factories import UserFactory

    operator = await database_sync_to_async(UserFactory)(username="op-sec", role=Role.OPERATOR)
    engineer = await database_sync_to_async(UserFactory)(username="eng-sec", role=Role.ENGINEER)
    operator = await database_sync_to_async(django_user_model.objects.get)(pk=operator.pk)
    engineer = await database_sync_to_async(django_user_model.objects.get)(pk=engineer.pk)
    watching, securing = await _connect(operator), await _connect(engineer)

    event = SecurityEvent(
        kind=SecurityEventKind.UNKNOWN_EDGE_NODE, subject="sparkplug:G/E9", message="Unknown edge node G/E9", at=T0
    )
    await database_sync_to_async(security_alarm_raise)(event=event)

    pushed = await securing.receive_json_from(timeout=5)
    assert pushed["type"] == "alarms"
    assert [(a["category"], a["state"], a["source"]) for a in pushed["alarms"]] == [
        ("security", "unack_rtn", "unknown_edge_node:sparkplug:G/E9")
    ]
    assert pushed["counts"]["security_unacknowledged"] == 1
    assert pushed["new"] == [pushed["alarms"][0]["id"]]
    assert await watching.receive_nothing(timeout=0.5)  # the operator's group hears nothing of it

    await watching.send_json_to({"action": "snapshot"})
    snapshot = await watching.receive_json_from()
    assert snapshot["alarms"] == []
    assert snapshot["counts"]["security"] == 0
    await watching.send_json_to({"action": "acknowledge", "alarms": [pushed["alarms"][0]["id"]]})
    done = await watching.receive_json_from()
    assert done["refused"] == {str(pushed["alarms"][0]["id"]): "no such alarm"}
    await watching.disconnect()
    await securing.disconnect()
