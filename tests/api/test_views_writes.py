"""The write endpoints of the REST API against the real Modbus plant simulator: request, confirm, approve and list;
every refusal answers JSON naming its rule, is audited, and writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services.roles import Role
from api.services.tokens import api_token_create
from audit.models import AuditAction, AuditEvent
from historian.models import Area, ConfirmationMode, OperateArea, Tag, WritePolicy, WriteRequest
from ingest.services.writes import device_writes_set


@pytest.fixture
def admin(make_user):
    return make_user("admin", role=Role.ADMINISTRATOR)


@pytest.fixture
def setpoint(machine) -> Tag:
    return machine.tags.get(path__endswith=".speed_setpoint")


@pytest.fixture
def sim_machine(plant_server, machine):
    line, number = machine.name.removeprefix("CNC ")[0], int(machine.name[-2:])
    return next(m for m in plant_server.plant.all_machines() if m.name == f"L{line}-M{number}")


@pytest.fixture
def enabled(device, admin):
    device_writes_set(device=device, enabled=True, user=admin)
    return device


def _operator(make_user, name: str, area: Area):
    user = make_user(name)
    group, _ = Group.objects.get_or_create(name=f"{area.name} operators")
    user.groups.add(group)
    OperateArea.objects.get_or_create(area=area, group=group)
    return user


@pytest.fixture
def operator(make_user, machine):
    return _operator(make_user, "op1", machine.line.area)


@pytest.fixture
def second_operator(make_user, machine):
    return _operator(make_user, "op2", machine.line.area)


def _policy(tag: Tag, **settings) -> WritePolicy:
    defaults = {"min_value": 0, "max_value": 3000, "confirmation": ConfirmationMode.DIRECT}
    return WritePolicy.objects.create(tag=tag, **(defaults | settings))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _write(client: Client, tag: Tag, value, **headers):
    return client.post(
        reverse("api:tag_write", kwargs={"pk": tag.pk}), {"value": value}, content_type="application/json", **headers
    )


def _last() -> AuditEvent:
    return AuditEvent.objects.order_by("-id").first()


def _assert_refused(response, status: int, rule: str, sim_machine, before) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["rule"], body["state"]) == (rule, "refused"), body
    assert body["detail"]
    event = _last()
    assert (event.action, event.details["rule"]) == (AuditAction.PLC_WRITE_REFUSED, rule)
    assert not WriteRequest.objects.filter(sent=True).exists()
    assert sim_machine.operator_setpoint == before


def test_a_direct_write_through_the_api_is_read_back_listed_and_audited(enabled, setpoint, operator, sim_machine):
    _policy(setpoint)
    client = _client(operator)

    response = _write(client, setpoint, 1234)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "executed"
    assert body["outcome"]["status"] == "confirmed"
    assert body["outcome"]["read_back"] == pytest.approx(1234.0)
    assert sim_machine.operator_setpoint == pytest.approx(1234.0)
    assert _last().action == AuditAction.PLC_WRITE
    listed = client.get(reverse("api:tag_writes", kwargs={"pk": setpoint.pk})).json()
    assert [(r["id"], r["state"], r["outcome"], r["requested_by"]) for r in listed] == [
        (body["request"], "executed", "confirmed", "op1")
    ]
    assert "token" not in listed[0]


def test_out_of_range_is_refused_with_the_rule_named(enabled, setpoint, operator, sim_machine):
    _policy(setpoint, min_value=100, max_value=2000)
    before = sim_machine.operator_setpoint
    response = _write(_client(operator), setpoint, 2500)
    _assert_refused(response, 409, "range", sim_machine, before)
    assert "100 .. 2000" in response.json()["detail"]


def test_a_read_only_tag_is_refused(enabled, machine, operator, sim_machine):
    temperature = machine.tags.get(path__endswith=".motor_temperature")
    assert not temperature.writable
    before = sim_machine.operator_setpoint
    _assert_refused(_write(_client(operator), temperature, 20), 409, "tag_not_writable", sim_machine, before)


def test_a_value_that_is_no_number_is_a_400_audited(enabled, setpoint, operator, sim_machine):
    _policy(setpoint)
    before = sim_machine.operator_setpoint
    _assert_refused(_write(_client(operator), setpoint, {"$gt": 1}), 400, "invalid_value", sim_machine, before)
    _assert_refused(_write(_client(operator), setpoint, "9" * 500), 400, "invalid_value", sim_machine, before)


def test_an_operator_of_another_area_gets_403_audited(enabled, setpoint, make_user, machine, sim_machine):
    _policy(setpoint)
    other = Area.objects.create(site=machine.line.area.site, name="Assembly")
    stranger = _operator(make_user, "op9", other)
    before = sim_machine.operator_setpoint

    response = _write(_client(stranger), setpoint, 1000)

    _assert_refused(response, 403, "permission", sim_machine, before)
    assert _last().actor == stranger


def test_an_unknown_tag_is_a_404_audited(enabled, operator):
    response = _client(operator).post(
        reverse("api:tag_write", kwargs={"pk": 999_999}), {"value": 1}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["rule"] == "unknown_tag"
    assert _last().details["tag_id"] == 999_999


def test_a_token_without_the_write_scope_gets_403_audited_and_one_with_it_writes(
    enabled, setpoint, operator, sim_machine
):
    _policy(setpoint)
    token, plain = api_token_create(user=operator, name="line script")
    assert token.can_write is False
    before = sim_machine.operator_setpoint
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}

    _assert_refused(_write(client, setpoint, 1000, **auth), 403, "token_scope", sim_machine, before)
    assert _last().details["via"] == "line script"
    confirm = client.post(reverse("api:write_confirm"), {"token": "x"}, content_type="application/json", **auth)
    assert (confirm.status_code, confirm.json()["rule"]) == (403, "token_scope")

    token.can_write = True
    token.save()
    response = _write(client, setpoint, 1000, **auth)
    assert response.status_code == 200, response.content
    assert sim_machine.operator_setpoint == pytest.approx(1000.0)
    event = _last()
    assert (event.action, event.actor, event.details["via"]) == (AuditAction.PLC_WRITE, operator, "line script")


@pytest.mark.parametrize("forged", [False, True])
def test_a_session_write_without_a_valid_csrf_token_is_refused_and_audited(
    enabled, setpoint, operator, sim_machine, forged
):
    _policy(setpoint)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    before = sim_machine.operator_setpoint
    headers = {"HTTP_X_CSRFTOKEN": "f" * 64} if forged else {}
    if forged:
        client.cookies["csrftoken"] = "b" * 32  # not what the header unmasks to ("a" * 32)

    response = _write(client, setpoint, 1000, **headers)

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    event = _last()
    assert (event.action, event.details["rule"], event.actor) == (AuditAction.PLC_WRITE_REFUSED, "csrf", operator)
    assert event.target == setpoint.path
    assert sim_machine.operator_setpoint == before
    assert not WriteRequest.objects.exists()


def test_a_session_write_with_its_csrf_token_goes_through(enabled, setpoint, operator, sim_machine):
    _policy(setpoint)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    client.get(reverse("dashboards:plant_overview"))  # the page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = _write(client, setpoint, 900, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200, response.content
    assert sim_machine.operator_setpoint == pytest.approx(900.0)


def test_arm_then_confirm_writes_and_an_expired_confirmation_is_refused(enabled, setpoint, operator, sim_machine):
    _policy(setpoint, confirmation=ConfirmationMode.ARM, confirm_within_seconds=10)
    client = _client(operator)
    before = sim_machine.operator_setpoint

    armed = _write(client, setpoint, 1100)
    assert armed.status_code == 202, armed.content
    assert armed.json()["state"] == "armed"
    assert armed.json()["token"]
    assert sim_machine.operator_setpoint == before
    confirmed = client.post(
        reverse("api:write_confirm"), {"token": armed.json()["token"]}, content_type="application/json"
    )
    assert confirmed.status_code == 200, confirmed.content
    assert sim_machine.operator_setpoint == pytest.approx(1100.0)

    late = _write(client, setpoint, 1200).json()
    with time_machine.travel(timezone.now() + timedelta(seconds=11)):
        expired = client.post(reverse("api:write_confirm"), {"token": late["token"]}, content_type="application/json")
    assert expired.status_code == 410
    assert expired.json()["rule"] == "expired"
    assert sim_machine.operator_setpoint == pytest.approx(1100.0)
    assert _last().details["rule"] == "expired"


def test_only_the_person_who_armed_a_write_confirms_it(enabled, setpoint, operator, second_operator, sim_machine):
    _policy(setpoint, confirmation=ConfirmationMode.ARM)
    armed = _write(_client(operator), setpoint, 1100).json()
    response = _client(second_operator).post(
        reverse("api:write_confirm"), {"token": armed["token"]}, content_type="application/json"
    )
    assert (response.status_code, response.json()["rule"]) == (403, "other_person")


def test_a_two_person_write_needs_a_second_different_person(enabled, setpoint, operator, second_operator, sim_machine):
    _policy(setpoint, confirmation=ConfirmationMode.TWO_PERSON)
    client = _client(operator)
    asked = _write(client, setpoint, 1300)
    assert asked.status_code == 202
    request_id = asked.json()["request"]
    approve = reverse("api:write_approve", kwargs={"request_id": request_id})

    same = client.post(approve)
    assert (same.status_code, same.json()["rule"]) == (403, "same_person")
    assert sim_machine.operator_setpoint != pytest.approx(1300.0)

    approved = _client(second_operator).post(approve)
    assert approved.status_code == 200, approved.content
    assert sim_machine.operator_setpoint == pytest.approx(1300.0)
    request = WriteRequest.objects.get(pk=request_id)
    assert (request.requested_by, request.approved_by) == (operator, second_operator)
    again = _client(second_operator).post(approve)
    assert (again.status_code, again.json()["rule"]) == (404, "unknown_request")


def test_the_write_scope_is_set_in_admin_and_audited(client, admin, operator):
    from auditlog.models import LogEntry

    token, _ = api_token_create(user=operator, name="script")
    client.force_login(admin)
    url = reverse("admin:api_apitoken_change", args=[token.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"can_write": "on"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.can_write is True
    entry = LogEntry.objects.get_for_object(token).latest("timestamp")
    assert entry.actor == admin
    assert "can_write" in entry.changes_dict
