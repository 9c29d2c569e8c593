"""The downtime stream of the pages' socket over the real Redis channel layer: a line's stops, then new and
classified ones pushed live; actions checked per area."""

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services.roles import Role
from dashboards.consumers import PageConsumer
from production.models import DowntimeArea, StateInterval
from tests.alarms.conftest import grant
from tests.factories import LineFactory, UserFactory
from tests.production.conftest import at
from tests.production.factories import DowntimeReasonFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(line):
    """The line's machine stopped on a jam 60-600 s, the clock at 650 s; op1 may classify its area, op2 only
    another area's."""
    with time_machine.travel(at(650), tick=True):
        yield _world(line)


def _world(line):
    area = line.config.machine.line.area
    op1, op2 = UserFactory(username="op1", role=Role.OPERATOR), UserFactory(username="op2", role=Role.OPERATOR)
    DowntimeArea.objects.create(area=area, user=op1)
    DowntimeArea.objects.create(area=LineFactory(area__site=area.site).area, user=op2)
    motor = DowntimeReasonFactory(category__site=area.site, category__name="Electrical", name="Motor")
    line.store(0, state=1, product=1, fault=0)
    line.store(60, state=6, fault=17)
    line.store(600, state=1, fault=0)
    stop = StateInterval.objects.get(machine=line.config.machine, state="unplanned_down")
    return line, op1, op2, motor, stop


async def _open(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(PageConsumer.as_asgi(), "/ws/page/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    return communicator


async def _next(communicator: WebsocketCommunicator, kind: str) -> dict:
    """The next message of type `kind` (the page socket also carries alarm counts and device statuses)."""
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == kind or (message["type"] == "error" and message.get("stream") == "downtime"):
            return message


async def test_a_page_gets_the_lines_stops_then_new_and_classified_stops_live(world):
    line, op1, _, motor, stop = world
    line_id = line.config.machine.line_id
    page = await _open(op1)
    await page.send_json_to({"action": "downtime_subscribe", "line": line_id, "hours": 168})
    snapshot = await _next(page, "downtime_snapshot")
    assert snapshot["can_classify"] is True
    assert [(s["id"], s["reason"]["name"], s["auto_classified"]) for s in snapshot["stops"]] == [(stop.pk, "Jam", True)]

    await database_sync_to_async(line.store)(700, state=2)  # starved: a new stop, open
    pushed = await _next(page, "downtime")
    assert pushed["machine"] == line.config.machine_id
    new = [s for s in pushed["stops"] if s["state"] == "idle"]
    assert len(new) == 1
    assert new[0]["open"] is True
    assert new[0]["unclassified"] is True

    await page.send_json_to({"action": "downtime_classify", "interval": stop.pk, "reason": motor.pk})
    assert (await _next(page, "downtime_done"))["interval"] == stop.pk
    pushed = await _next(page, "downtime")
    (classified,) = [s for s in pushed["stops"] if s["id"] == stop.pk]
    assert (classified["reason"]["name"], classified["auto_reason"]["name"], classified["overridden"]) == (
        "Motor",
        "Jam",
        True,
    )
    assert classified["classified_by"] == "op1"
    await page.disconnect()


async def test_an_operator_of_another_area_sees_the_stops_but_cannot_classify_them(world):
    line, _, op2, motor, stop = world
    page = await _open(op2)
    await page.send_json_to({"action": "downtime_subscribe", "line": line.config.machine.line_id})
    assert (await _next(page, "downtime_snapshot"))["can_classify"] is False
    for action in (
        {"action": "downtime_classify", "interval": stop.pk, "reason": motor.pk},
        {"action": "downtime_comment", "interval": stop.pk, "comment": "mine now"},
        {"action": "downtime_split", "interval": stop.pk, "at": int(at(300).timestamp() * 1000)},
    ):
        await page.send_json_to(action)
        error = await _next(page, "downtime_done")
        assert error["type"] == "error"
        assert "may not classify" in error["message"]
    await page.disconnect()
    refreshed = await StateInterval.objects.select_related("reason").aget(pk=stop.pk)
    assert (refreshed.reason.name, refreshed.comment, refreshed.end) == ("Jam", "", at(600))


async def test_a_user_who_may_not_view_the_plant_gets_no_stops(world):
    line, *_ = world
    watcher = await database_sync_to_async(lambda: grant(UserFactory(username="w", role=None), "view_alarm"))()
    page = await _open(watcher)
    await page.send_json_to({"action": "downtime_subscribe", "line": line.config.machine.line_id})
    error = await _next(page, "downtime_snapshot")
    assert error["type"] == "error"
    assert "may not view" in error["message"]
    await page.disconnect()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"action": "downtime_subscribe", "line": "all"}, "Subscribe with a line"),
        ({"action": "downtime_subscribe", "line": 999999}, "Unknown line"),
        ({"action": "downtime_classify", "interval": True, "reason": 1}, "'interval'"),
        ({"action": "downtime_classify", "interval": 999999, "reason": 1}, "no longer exists"),
        ({"action": "downtime_split", "interval": 1, "at": "noon"}, "'at'"),
        ({"action": "downtime_comment", "interval": 1, "comment": 5}, "'comment'"),
    ],
)
async def test_a_malformed_downtime_message_gets_a_clear_error(world, message, error):
    _, op1, *_ = world
    page = await _open(op1)
    await page.send_json_to(message)
    reply = await _next(page, "downtime_snapshot")
    assert reply["type"] == "error"
    assert error in reply["message"]
    await page.disconnect()
