"""Writing a tag under its write policy, against the real Modbus plant simulator: every refusal names its rule and
is audited with nothing written; arm-then-confirm, two-person approval, read-back, area permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from demo.simulator.plant import MachineState
from historian.models import (
    Area,
    ConfirmationMode,
    Device,
    InterlockComparison,
    OperateArea,
    Protocol,
    Tag,
    WritePolicy,
    WriteRequest,
    WriteRequestState,
)
from ingest.protocols.base import WriteStatus
from ingest.services.quarantine import device_quarantine_set
from ingest.services.writes import (
    WriteRule,
    WriteState,
    device_writes_set,
    tag_may_operate,
    tag_write_approve,
    tag_write_confirm,
    tag_write_request,
)
from tests.samples import write as samples_write
from tests.waiting import wait_until


@pytest.fixture
def admin(make_user):
    return make_user("admin", role=Role.ADMINISTRATOR)


@pytest.fixture
def setpoint(machine) -> Tag:
    return machine.tags.get(path__endswith=".speed_setpoint")


@pytest.fixture
def sim_machine(plant_server, machine):
    """The simulated machine behind the demo `machine` (the one its tags address)."""
    line, number = machine.name.removeprefix("CNC ")[0], int(machine.name[-2:])  # "CNC 101": line 1, machine 1
    return next(m for m in plant_server.plant.all_machines() if m.name == f"L{line}-M{number}")


@pytest.fixture
def enabled(device, admin) -> Device:
    device_writes_set(device=device, enabled=True, user=admin)
    return device


@pytest.fixture
def operator(make_user, machine):
    """An operator granted the machine's area (through their group, as a site would)."""
    user = make_user("op1")
    group = Group.objects.create(name="Line 1 operators")
    user.groups.add(group)
    OperateArea.objects.create(area=machine.line.area, group=group)
    return user


def _policy(tag: Tag, **settings) -> WritePolicy:
    defaults = {"min_value": 0, "max_value": 3000, "confirmation": ConfirmationMode.DIRECT}
    return WritePolicy.objects.create(tag=tag, **(defaults | settings))


def _last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-id").first()


def _assert_refused(result, rule: WriteRule, sim_machine, before: float) -> None:
    """Refused by `rule`, audited as such, and nothing went to the device."""
    assert result.state == WriteState.REFUSED, result
    assert result.rule == rule, result.message
    event = _last_event()
    assert event.action == AuditAction.PLC_WRITE_REFUSED
    assert event.details["rule"] == rule.value
    assert event.details["message"] == result.message
    assert not WriteRequest.objects.filter(sent=True, executed_at__gte=event.timestamp).exists()
    assert sim_machine.operator_setpoint == before


def test_a_direct_write_is_confirmed_by_read_back_audited_and_the_spindle_follows(
    enabled, setpoint, operator, sim_machine, machine
):
    _policy(setpoint)
    old = sim_machine.setpoint

    result = tag_write_request(tag=setpoint, value="1500", user=operator, via="", remote_addr="10.0.0.9")

    assert result.state == WriteState.EXECUTED, result.message
    assert result.outcome is not None
    assert result.outcome.status == WriteStatus.CONFIRMED
    assert result.outcome.read_back == pytest.approx(1500.0)
    assert sim_machine.operator_setpoint == pytest.approx(1500.0)
    event = _last_event()
    assert event.action == AuditAction.PLC_WRITE
    assert event.actor == operator
    assert event.target == setpoint.path
    assert event.remote_addr == "10.0.0.9"
    assert event.details["old_value"] == pytest.approx(old)
    assert event.details["requested"] == 1500.0
    assert event.details["read_back"] == pytest.approx(1500.0)
    assert event.details["outcome"] == "confirmed"
    request = WriteRequest.objects.get(pk=result.request_id)
    assert (request.state, request.sent, request.requested_by) == (WriteRequestState.EXECUTED, True, operator)
    if sim_machine.state == MachineState.RUNNING:
        wait_until(lambda: abs(sim_machine.speed - 1500.0) < 25, timeout=20, what="the spindle at the setpoint")


def test_writes_are_off_until_an_administrator_enables_them_on_the_device(
    device, setpoint, operator, admin, sim_machine
):
    _policy(setpoint)
    before = sim_machine.operator_setpoint
    assert Device._meta.get_field("writes_enabled").default is False

    result = tag_write_request(tag=setpoint, value=1000, user=operator)
    _assert_refused(result, WriteRule.DEVICE_WRITES_DISABLED, sim_machine, before)

    with pytest.raises(PermissionError):
        device_writes_set(device=device, enabled=True, user=operator)
    assert device_writes_set(device=device, enabled=True, user=admin) is True
    event = _last_event()
    assert (event.action, event.actor, event.target) == (AuditAction.DEVICE_WRITES_ENABLE, admin, device.name)
    assert device_writes_set(device=device, enabled=True, user=admin) is False

    assert tag_write_request(tag=setpoint, value=1000, user=operator).state == WriteState.EXECUTED


def test_a_tag_not_marked_writable_is_refused(enabled, machine, operator, sim_machine):
    speed = machine.tags.get(path__endswith=".spindle_speed")
    assert speed.writable is False
    _policy(speed)

    result = tag_write_request(tag=speed, value=100, user=operator)

    _assert_refused(result, WriteRule.TAG_NOT_WRITABLE, sim_machine, sim_machine.operator_setpoint)


def test_a_writable_tag_without_a_policy_is_refused(enabled, setpoint, operator, sim_machine):
    result = tag_write_request(tag=setpoint, value=100, user=operator)

    _assert_refused(result, WriteRule.NO_POLICY, sim_machine, sim_machine.operator_setpoint)


def test_a_quarantined_device_refuses_every_write(enabled, setpoint, operator, admin, sim_machine):
    _policy(setpoint)
    device_quarantine_set(device=enabled, quarantined=True, reason="odd traffic", user=admin)

    result = tag_write_request(tag=setpoint, value=100, user=admin)

    _assert_refused(result, WriteRule.DEVICE_QUARANTINED, sim_machine, sim_machine.operator_setpoint)


def test_a_sparkplug_device_without_a_host_running_fails_with_nothing_sent(enabled, setpoint, admin, sim_machine):
    _policy(setpoint)
    Device.objects.filter(pk=enabled.pk).update(protocol=Protocol.SPARKPLUG)
    setpoint.refresh_from_db()

    result = tag_write_request(tag=setpoint, value=100, user=admin)

    assert result.state == WriteState.EXECUTED
    assert result.outcome is not None
    assert (result.outcome.status, result.outcome.sent) == (WriteStatus.FAILED, False)
    assert "no Sparkplug host (manage.py run_sparkplug) is connected" in result.message
    assert sim_machine.operator_setpoint != 100
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.details["outcome"], event.details["sent"]) == (AuditAction.PLC_WRITE, "failed", False)


def test_a_value_outside_the_range_is_refused(enabled, setpoint, operator, sim_machine):
    _policy(setpoint, min_value=500, max_value=2500)

    for value in (499.9, 2500.1):
        result = tag_write_request(tag=setpoint, value=value, user=operator)
        _assert_refused(result, WriteRule.RANGE, sim_machine, sim_machine.operator_setpoint)
        assert "500 .. 2500" in result.message


def test_a_step_too_far_from_the_current_value_is_refused(enabled, setpoint, operator, sim_machine):
    policy = _policy(setpoint)
    assert tag_write_request(tag=setpoint, value=1000, user=operator).confirmed
    policy.max_step = 200
    policy.save()

    result = tag_write_request(tag=setpoint, value=1250, user=operator)

    _assert_refused(result, WriteRule.STEP, sim_machine, 1000)
    assert "250 from the current 1000" in result.message
    written = tag_write_request(tag=setpoint, value=1150, user=operator)
    assert written.confirmed, written.message


def test_writes_closer_than_the_minimum_interval_are_refused(enabled, setpoint, operator, sim_machine):
    _policy(setpoint, min_interval_seconds=60)
    start = timezone.now()
    with time_machine.travel(start, tick=True):
        assert tag_write_request(tag=setpoint, value=1000, user=operator).confirmed
    with time_machine.travel(start + timedelta(seconds=30), tick=True):
        result = tag_write_request(tag=setpoint, value=1100, user=operator)
    assert result.rule == WriteRule.INTERVAL, result.message
    assert _last_event().details["rule"] == "interval"
    assert sim_machine.operator_setpoint == 1000
    with time_machine.travel(start + timedelta(seconds=61), tick=True):
        assert tag_write_request(tag=setpoint, value=1100, user=operator).confirmed


def test_a_change_faster_than_the_maximum_rate_is_refused(enabled, setpoint, operator, sim_machine):
    _policy(setpoint, max_rate_per_second=10)  # 10 rpm/s
    start = timezone.now()
    with time_machine.travel(start, tick=True):
        assert tag_write_request(tag=setpoint, value=1000, user=operator).confirmed
    with time_machine.travel(start + timedelta(seconds=10), tick=True):
        result = tag_write_request(tag=setpoint, value=1200, user=operator)  # 200 in ~10 s: 20/s
    assert result.rule == WriteRule.RATE, result.message
    assert sim_machine.operator_setpoint == 1000
    with time_machine.travel(start + timedelta(seconds=30), tick=True):
        assert tag_write_request(tag=setpoint, value=1200, user=operator).confirmed  # 200 in 30 s


def test_the_interlock_refuses_while_the_machine_runs(enabled, setpoint, operator, machine, sim_machine):
    state = machine.tags.get(path__endswith=".state")
    _policy(
        setpoint,
        interlock_tag=state,
        interlock_comparison=InterlockComparison.NE,
        interlock_value=int(MachineState.RUNNING),
    )
    before = sim_machine.operator_setpoint

    unknown = tag_write_request(tag=setpoint, value=900, user=operator)
    _assert_refused(unknown, WriteRule.INTERLOCK, sim_machine, before)
    assert "unknown" in unknown.message

    now = timezone.now()
    samples_write(state, [(now, int(MachineState.RUNNING))])
    running = tag_write_request(tag=setpoint, value=900, user=operator)
    _assert_refused(running, WriteRule.INTERLOCK, sim_machine, before)
    assert "does not hold" in running.message

    samples_write(state, [(now + timedelta(seconds=1), int(MachineState.IDLE))])
    assert tag_write_request(tag=setpoint, value=900, user=operator).confirmed


def test_an_operator_of_another_area_is_refused_and_audited(enabled, setpoint, machine, make_user, sim_machine):
    other_area = Area.objects.create(site=machine.line.area.site, name="Line 2 area")
    stranger = make_user("op2")
    OperateArea.objects.create(area=other_area, user=stranger)
    _policy(setpoint)
    assert not tag_may_operate(user=stranger, tag=setpoint)
    engineer = make_user("eng", role=Role.ENGINEER)  # may operate, but was granted no area

    for user in (stranger, engineer):
        result = tag_write_request(tag=setpoint, value=1000, user=user, remote_addr="10.0.0.7")
        _assert_refused(result, WriteRule.PERMISSION, sim_machine, sim_machine.operator_setpoint)
        assert _last_event().actor == user


def test_arm_then_confirm_writes_and_an_expired_arm_is_refused(enabled, setpoint, operator, make_user, sim_machine):
    _policy(setpoint, confirmation=ConfirmationMode.ARM, confirm_within_seconds=10)
    before = sim_machine.operator_setpoint

    armed = tag_write_request(tag=setpoint, value=1200, user=operator)
    assert armed.state == WriteState.ARMED
    assert armed.token
    assert _last_event().action == AuditAction.PLC_WRITE_ARMED
    assert sim_machine.operator_setpoint == before  # armed, not written

    other = make_user("op3")
    wrong = tag_write_confirm(token=armed.token, user=other)
    assert wrong.rule == WriteRule.OTHER_PERSON
    confirmed = tag_write_confirm(token=armed.token, user=operator)
    assert confirmed.confirmed, confirmed.message
    assert sim_machine.operator_setpoint == 1200
    assert tag_write_confirm(token=armed.token, user=operator).rule == WriteRule.UNKNOWN_REQUEST

    late = tag_write_request(tag=setpoint, value=1300, user=operator)
    with time_machine.travel(timezone.now() + timedelta(seconds=11), tick=True):
        expired = tag_write_confirm(token=late.token, user=operator)
    assert expired.rule == WriteRule.EXPIRED, expired.message
    assert _last_event().details["rule"] == "expired"
    assert WriteRequest.objects.get(pk=late.request_id).state == WriteRequestState.EXPIRED
    assert sim_machine.operator_setpoint == 1200


def test_two_person_approval_needs_a_second_different_person(enabled, setpoint, operator, make_user, sim_machine):
    _policy(setpoint, confirmation=ConfirmationMode.TWO_PERSON, confirm_within_seconds=60)
    second = make_user("op4")
    OperateArea.objects.create(area=setpoint.machine.line.area, user=second)
    before = sim_machine.operator_setpoint

    asked = tag_write_request(tag=setpoint, value=1700, user=operator)
    assert asked.state == WriteState.AWAITING_APPROVAL
    assert _last_event().action == AuditAction.PLC_WRITE_APPROVAL_ASKED

    same = tag_write_approve(token=asked.token, user=operator)
    _assert_refused(same, WriteRule.SAME_PERSON, sim_machine, before)
    outsider = make_user("op5")  # an operator with no grant here
    assert tag_write_approve(token=asked.token, user=outsider).rule == WriteRule.PERMISSION

    approved = tag_write_approve(token=asked.token, user=second)
    assert approved.confirmed, approved.message
    assert sim_machine.operator_setpoint == 1700
    request = WriteRequest.objects.get(pk=asked.request_id)
    assert (request.requested_by, request.approved_by) == (operator, second)
    event = _last_event()
    assert (event.action, event.actor) == (AuditAction.PLC_WRITE, second)
    assert (event.details["requested_by"], event.details["approved_by"]) == ("op1", "op4")


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("abc", WriteRule.INVALID_VALUE),
        ("", WriteRule.INVALID_VALUE),
        ("nan", WriteRule.INVALID_VALUE),
        (float("nan"), WriteRule.INVALID_VALUE),
        (float("inf"), WriteRule.INVALID_VALUE),
        ("-inf", WriteRule.INVALID_VALUE),
        ("1e400", WriteRule.INVALID_VALUE),
        (10**400, WriteRule.INVALID_VALUE),
        ("9" * 500, WriteRule.INVALID_VALUE),
        ([1000], WriteRule.INVALID_VALUE),
        ({"value": 1000}, WriteRule.INVALID_VALUE),
        (None, WriteRule.INVALID_VALUE),
        (1e308, WriteRule.RANGE),
        (-(2**62), WriteRule.RANGE),
    ],
)
def test_hostile_values_are_refused_audited_and_nothing_is_written(enabled, setpoint, admin, sim_machine, value, rule):
    _policy(setpoint)

    result = tag_write_request(tag=setpoint, value=value, user=admin)

    _assert_refused(result, rule, sim_machine, sim_machine.operator_setpoint)
    assert _last_event().actor == admin


def test_the_api_token_is_named_in_the_audit_trail(enabled, setpoint, admin):
    _policy(setpoint)

    result = tag_write_request(tag=setpoint, value=800, user=admin, via="line-mes")

    assert result.confirmed, result.message
    event = _last_event()
    assert (event.actor, event.details["via"]) == (admin, "line-mes")
    assert WriteRequest.objects.get(pk=result.request_id).requested_via == "line-mes"
