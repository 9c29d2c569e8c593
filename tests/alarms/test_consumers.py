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


@pytest.mark.serial
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


async def _snapshot(communicator: WebsocketCommunicator) -> dict:
    await communicator.send_json_to({"action": "snapshot"})
    while True:  # an alarm change pushed meanwhile may come first
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == "snapshot":
            return message


async def test_sockets_of_the_same_kind_share_one_read_of_the_snapshot_and_counts(hot, operator, viewer):
    from alarms.consumers import _views_of_loop

    first, second = await _connect(operator), await _connect(viewer)
    views = _views_of_loop()[False]
    assert views.reads == 1  # the counts both sockets were sent on connect

    await first.send_json_to({"action": "snapshot"})
    await second.send_json_to({"action": "snapshot"})
    snapshots = [await first.receive_json_from(), await second.receive_json_from()]

    assert views.reads == 2
    assert [[a["id"] for a in s["alarms"]] for s in snapshots] == [[hot.pk], [hot.pk]]
    assert [s["can"] for s in snapshots] == [
        {"acknowledge": True, "shelve": True},
        {"acknowledge": False, "shelve": False},
    ]
    await first.disconnect()
    await second.disconnect()
    assert False not in _views_of_loop()  # nothing kept once the process's last socket of the kind is gone


async def test_a_shared_snapshot_never_shows_a_security_alarm_to_who_may_not_see_it(hot, django_user_model):
    from accounts.services.roles import Role
    from alarms.services.security import security_alarm_raise
    from inventory.security_events import SecurityEvent, SecurityEventKind
    from tests.factories import UserFactory

    event = SecurityEvent(
        kind=SecurityEventKind.UNKNOWN_EDGE_NODE, subject="sparkplug:G/E7", message="Unknown edge node G/E7", at=T0
    )
    await database_sync_to_async(security_alarm_raise)(event=event)
    engineer = await database_sync_to_async(UserFactory)(username="eng-shared", role=Role.ENGINEER)
    operators = [await database_sync_to_async(UserFactory)(username=f"op-{i}", role=Role.OPERATOR) for i in (1, 2)]
    get = database_sync_to_async(django_user_model.objects.get)
    engineer, operators = await get(pk=engineer.pk), [await get(pk=o.pk) for o in operators]

    securing = await _connect(engineer)  # reads first: what it keeps must not reach the operators
    seen = await _snapshot(securing)
    assert sorted(a["category"] for a in seen["alarms"]) == ["process", "security"]
    watching = [await _connect(o) for o in operators]
    for communicator in watching:
        snapshot = await _snapshot(communicator)
        assert [a["id"] for a in snapshot["alarms"]] == [hot.pk]
        assert snapshot["counts"]["security"] == 0
    for communicator in [securing, *watching]:
        await communicator.disconnect()


async def test_an_alarm_change_drops_the_kept_snapshot_and_counts(hot, viewer, operator, signals, define, monkeypatch):
    from alarms.consumers import _views_of_loop

    monkeypatch.setattr("alarms.consumers.VIEWS_MAX_AGE_SECONDS", 3600.0)  # only the change may refresh it

    watching = await _connect(viewer)
    assert [a["id"] for a in (await _snapshot(watching))["alarms"]] == [hot.pk]
    reads = _views_of_loop()[False].reads

    # A new alarm, raised as the acquisition worker raises it: its change message reaches this process.
    temp = signals["motor_temperature"]
    low = await database_sync_to_async(define)(temp, name="hihi", kind="hihi", limit=95, priority="low")
    await database_sync_to_async(alarms_evaluate_strict)(rows=[SampleRow(T0, temp.pk, 96.0, Quality.GOOD)], now=T0)
    pushed = await watching.receive_json_from(timeout=5)
    assert pushed["type"] == "alarms"
    assert low.pk in [a["id"] for a in pushed["alarms"]]

    assert sorted(a["id"] for a in (await _snapshot(watching))["alarms"]) == sorted([hot.pk, low.pk])
    assert _views_of_loop()[False].reads == reads + 1
    later = WebsocketCommunicator(AlarmConsumer.as_asgi(), "/ws/alarms/")  # connects after: today's counts
    later.scope["user"] = operator
    assert (await later.connect())[0]
    counts = (await later.receive_json_from())["counts"]
    assert counts["unacknowledged"]["low"] == 1

    # An acknowledgement made through this process is in the next snapshot at once.
    await later.send_json_to({"action": "acknowledge", "alarms": [low.pk], "comment": "seen"})
    snapshot = await _snapshot(later)
    assert {a["id"]: a["state"] for a in snapshot["alarms"]}[low.pk] == "ack_active"
    await watching.disconnect()
    await later.disconnect()
