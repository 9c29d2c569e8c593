"""Writes through the page socket (/ws/page/) against the real Modbus plant simulator and the real Redis channel
layer: the same write service and checks as the API; hostile frames get an error frame, write attempts among them
are audited, nothing is written; every state change reaches the machine's subscribers."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from dashboards.consumers import PageConsumer
from historian.models import Area, ConfirmationMode, OperateArea, Tag, WritePolicy, WriteRequest
from ingest.services.writes import device_writes_set

pytestmark = pytest.mark.django_db(transaction=True)


def _operator(make_user, name: str, area: Area):
    user = make_user(name)
    group, _ = Group.objects.get_or_create(name=f"{area.name} operators")
    user.groups.add(group)
    OperateArea.objects.get_or_create(area=area, group=group)
    return user


@pytest.fixture
def setpoint(machine, device, make_user) -> Tag:
    device_writes_set(device=device, enabled=True, user=make_user("admin", role=Role.ADMINISTRATOR))
    return machine.tags.get(path__endswith=".speed_setpoint")


@pytest.fixture
def sim_machine(plant_server, machine):
    line, number = machine.name.removeprefix("CNC ")[0], int(machine.name[-2:])
    return next(m for m in plant_server.plant.all_machines() if m.name == f"L{line}-M{number}")


@pytest.fixture
def operators(make_user, machine):
    return _operator(make_user, "op1", machine.line.area), _operator(make_user, "op2", machine.line.area)


async def _socket(user, machine=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(PageConsumer.as_asgi(), "/ws/page/")
    communicator.scope["user"] = user
    communicator.scope["client"] = ("10.0.0.7", 50000)
    assert (await communicator.connect())[0]
    if machine is not None:
        await communicator.send_json_to({"action": "subscribe", "machines": [machine.pk]})
        await _next(communicator, "subscribed")
    return communicator


async def _next(communicator, kind: str) -> dict:
    """The next frame of type `kind` (skipping live values, device status, alarm counts)."""
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] == kind:
            return frame


def _last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-id").first()


async def test_arm_then_confirm_over_the_socket_writes_and_the_subscribers_see_each_step(
    setpoint, operators, machine, sim_machine
):
    await WritePolicy.objects.acreate(
        tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.ARM, confirm_within_seconds=30
    )
    op1, op2 = operators
    mine, watcher = await _socket(op1, machine), await _socket(op2, machine)

    await mine.send_json_to({"action": "write", "tag": setpoint.pk, "value": 1700})
    armed = await _next(mine, "write_result")
    assert armed["state"] == "armed", armed
    assert armed["token"]
    assert armed["expires"] > 0
    seen = (await _next(watcher, "write"))["write"]
    assert (seen["tag"], seen["state"], seen["value"], seen["by"]) == (setpoint.pk, "armed", 1700.0, "op1")
    assert "token" not in seen
    assert sim_machine.operator_setpoint != 1700.0

    await mine.send_json_to({"action": "write_confirm", "token": armed["token"]})
    done = await _next(mine, "write_result")
    assert done["state"] == "executed"
    assert done["outcome"]["status"] == "confirmed"
    assert done["outcome"]["read_back"] == pytest.approx(1700.0)
    assert sim_machine.operator_setpoint == pytest.approx(1700.0)
    seen = (await _next(watcher, "write"))["write"]
    assert (seen["state"], seen["read_back"]) == ("confirmed", pytest.approx(1700.0))
    event = await AuditEvent.objects.order_by("-id").afirst()
    assert (event.action, event.remote_addr) == (AuditAction.PLC_WRITE, "10.0.0.7")
    await mine.disconnect()
    await watcher.disconnect()


async def test_a_two_person_write_is_approved_from_another_socket_by_another_operator(
    setpoint, operators, machine, sim_machine
):
    await WritePolicy.objects.acreate(
        tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.TWO_PERSON
    )
    op1, op2 = operators
    mine, other = await _socket(op1, machine), await _socket(op2, machine)

    await mine.send_json_to({"action": "write", "tag": setpoint.pk, "value": 1800})
    assert (await _next(mine, "write_result"))["state"] == "awaiting_approval"
    waiting = (await _next(other, "write"))["write"]
    assert waiting["state"] == "awaiting_approval"

    await mine.send_json_to({"action": "write_approve", "request": waiting["request"]})
    refused = await _next(mine, "error")
    assert (refused["stream"], refused["rule"]) == ("write", "same_person")

    await other.send_json_to({"action": "write_approve", "request": waiting["request"]})
    done = await _next(other, "write_result")
    assert done["outcome"]["status"] == "confirmed"
    assert sim_machine.operator_setpoint == pytest.approx(1800.0)
    await mine.disconnect()
    await other.disconnect()


@pytest.mark.parametrize(
    ("frame", "rule", "error"),
    [
        ("{not json", None, "not valid JSON"),
        ('{"action": "write", "tag": 1, "value": "' + "9" * 100_000 + '"}', None, "too large"),
        ({"action": "write", "tag": 999_999, "value": 10}, "unknown_tag", "No tag 999999"),
        ({"action": "write", "tag": "<setpoint>", "value": "ten"}, "invalid_value", "is not a number"),
        ({"action": "write", "tag": "<setpoint>", "value": "1" * 60}, "invalid_value", "A write takes a number"),
        ({"action": "write", "tag": "<setpoint>", "value": [1]}, "invalid_value", "not list"),
        ({"action": "write", "tag": "<setpoint>", "value": 99999}, "range", "outside the allowed"),
        ({"action": "write", "tag": "<temperature>", "value": 20}, "tag_not_writable", "read-only"),
        ({"action": "write_confirm", "token": {"$ne": ""}}, "unknown_request", "No such write"),
        ({"action": "write_approve", "request": "1 OR 1=1"}, "unknown_request", "No such write"),
    ],
)
async def test_hostile_frames_get_an_error_frame_are_audited_and_write_nothing(
    setpoint, operators, machine, sim_machine, frame, rule, error
):
    await WritePolicy.objects.acreate(tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.DIRECT)
    temperature = await machine.tags.aget(path__endswith=".motor_temperature")
    before, events_before = sim_machine.operator_setpoint, await AuditEvent.objects.acount()
    if isinstance(frame, dict):
        ids = {"<setpoint>": setpoint.pk, "<temperature>": temperature.pk}
        frame = json.dumps({k: ids.get(v, v) if isinstance(v, str) else v for k, v in frame.items()})
    socket = await _socket(operators[0])

    await socket.send_to(text_data=frame)
    answer = await _next(socket, "error")

    assert error in answer["message"]
    if rule is None:  # not even read: nothing to audit
        assert await AuditEvent.objects.acount() == events_before
    else:
        assert answer["rule"] == rule
        event = await AuditEvent.objects.order_by("-id").afirst()
        assert (event.action, event.details["rule"]) == (AuditAction.PLC_WRITE_REFUSED, rule)
    assert sim_machine.operator_setpoint == before
    assert not await WriteRequest.objects.filter(sent=True).aexists()
    await socket.disconnect()


@pytest.fixture
def stranger(make_user, machine):
    """An operator of another area of the same site."""
    return _operator(make_user, "op9", Area.objects.create(site=machine.line.area.site, name="Assembly"))


async def test_an_operator_of_another_area_is_refused_and_audited(setpoint, stranger, sim_machine):
    await WritePolicy.objects.acreate(tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.DIRECT)
    before = sim_machine.operator_setpoint
    socket = await _socket(stranger)

    await socket.send_json_to({"action": "write", "tag": setpoint.pk, "value": 1000})
    answer = await _next(socket, "error")

    assert (answer["rule"], answer["tag"]) == ("permission", setpoint.pk)
    event = await AuditEvent.objects.select_related("actor").order_by("-id").afirst()
    assert (event.action, event.actor_id, event.details["rule"]) == (
        AuditAction.PLC_WRITE_REFUSED,
        stranger.pk,
        "permission",
    )
    assert sim_machine.operator_setpoint == before
    await socket.disconnect()
