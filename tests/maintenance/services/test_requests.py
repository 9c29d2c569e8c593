"""Work requests: who may, what each change records, notifications over the alarms' routes."""

import pytest
from django.core import mail

from accounts.services.roles import Role
from alarms.models import NotificationRoute
from audit.models import AuditEvent
from maintenance.models import MaintenanceArea, MaintenanceRequest, RequestStatus
from maintenance.services.notify import request_notification_deliver
from maintenance.services.requests import (
    RequestError,
    request_assign,
    request_close,
    request_comment,
    request_may_work,
    request_open,
    request_plan,
)
from tests.factories import MachineFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine():
    return MachineFactory(name="CNC 102")


@pytest.fixture
def engineer():
    return UserFactory(username="eve", role=Role.ENGINEER)


def test_an_operator_works_on_requests_only_in_the_areas_granted(machine):
    operator = UserFactory(role=Role.OPERATOR)
    area_id = machine.line.area_id

    assert not request_may_work(user=operator, area_id=area_id)
    with pytest.raises(PermissionError, match="CNC 102"):
        request_open(machine=machine, component="bearing", title="Noisy", user=operator)

    MaintenanceArea.objects.create(area_id=area_id, user=operator)
    assert request_may_work(user=operator, area_id=area_id)
    assert request_open(machine=machine, component="bearing", title="Noisy", user=operator).created_by == operator


def test_engineers_work_everywhere_and_people_without_a_role_nowhere(machine):
    assert request_may_work(user=UserFactory(role=Role.ENGINEER), area_id=machine.line.area_id)
    assert not request_may_work(user=UserFactory(role=None), area_id=machine.line.area_id)
    assert not request_may_work(user=None, area_id=machine.line.area_id)


def test_a_request_goes_from_open_to_planned_to_done_and_each_change_is_audited(machine, engineer):
    fitter = UserFactory(username="fred", role=Role.OPERATOR)
    request = request_open(machine=machine, component="spindle bearing", title="Vibration rising", user=engineer)
    request_plan(request_id=request.pk, user=engineer, planned_for=None, assignee=fitter)
    request_comment(request_id=request.pk, user=engineer, text="Parts ordered")
    request_assign(request_id=request.pk, user=engineer, assignee=engineer)
    request_close(request_id=request.pk, user=engineer, note="Bearing replaced")

    request.refresh_from_db()
    assert request.status == RequestStatus.DONE
    assert (request.closed_by, request.done_note, request.assignee) == (engineer, "Bearing replaced", engineer)
    assert [c.text for c in request.comments.all()] == ["Parts ordered"]
    actions = list(AuditEvent.objects.filter(target__startswith=f"#{request.pk}").values_list("action", flat=True))
    assert sorted(actions) == sorted(
        [f"maintenance_request_{a}" for a in ("open", "plan", "comment", "assign", "done")]
    )
    plan = AuditEvent.objects.get(action="maintenance_request_plan")
    assert plan.details["before"]["status"] == "open"
    assert plan.details["after"] == {"status": "planned", "planned_for": None, "assignee": "fred"}


def test_a_done_request_can_be_neither_closed_nor_planned_again(machine, engineer):
    request = request_open(machine=machine, component="tool", title="Worn", user=engineer)
    request_close(request_id=request.pk, user=engineer)
    with pytest.raises(RequestError, match="already done"):
        request_close(request_id=request.pk, user=engineer)
    with pytest.raises(RequestError, match="done"):
        request_plan(request_id=request.pk, user=engineer, planned_for=None)


def test_bad_input_is_refused_with_a_message(machine, engineer):
    with pytest.raises(RequestError, match="component and a title"):
        request_open(machine=machine, component=" ", title="x", user=engineer)
    request = request_open(machine=machine, component="tool", title="Worn", user=engineer)
    with pytest.raises(RequestError, match="some text"):
        request_comment(request_id=request.pk, user=engineer, text="  ")
    with pytest.raises(RequestError, match="does not exist"):
        request_comment(request_id=999_999, user=engineer, text="x")


def test_the_health_monitor_opens_requests_as_nobody(machine):
    request = request_open(
        machine=machine, component="bearing", title="Health", evidence={"explanation": "vib +4σ"}, by_monitor=True
    )
    assert (request.by_monitor, request.created_by) == (True, None)
    event = AuditEvent.objects.get(action="maintenance_request_open")
    assert (event.actor, event.actor_username) == (None, "health monitor")


def _notifications(callbacks: list) -> list:
    """The notifications among the after-commit callbacks (not the health pages' push, maintenance.services.live)."""
    return [c for c in callbacks if "health_model_publish" not in getattr(c, "__qualname__", "")]


def test_changes_are_sent_over_the_matching_routes_after_commit(machine, engineer, django_capture_on_commit_callbacks):
    route = NotificationRoute.objects.create(name="fitters", channel="email", target="fitters@example.com")
    NotificationRoute.objects.create(
        name="critical only", channel="email", target="x@example.com", min_priority="critical"
    )
    NotificationRoute.objects.create(
        name="another area", channel="email", target="y@example.com", area=MachineFactory().line.area
    )

    with django_capture_on_commit_callbacks() as callbacks:
        request = request_open(
            machine=machine,
            component="bearing",
            title="Vibration rising",
            evidence={"explanation": "vibration rms +4.1σ"},
            user=engineer,
        )
    [queued] = _notifications(callbacks)  # one route matches: a partial of the task's delay
    route_id, payload = queued.args
    assert (route_id, payload["event"], payload["request"]["id"]) == (route.pk, "open", request.pk)

    assert request_notification_deliver(route_id=route_id, payload=payload)
    [message] = mail.outbox
    assert message.to == ["fitters@example.com"]
    assert "CNC 102: Vibration rising" in message.subject
    assert "vibration rms +4.1σ" in message.body


def test_comments_are_not_sent(machine, engineer, django_capture_on_commit_callbacks):
    NotificationRoute.objects.create(name="fitters", channel="email", target="fitters@example.com")
    request = request_open(machine=machine, component="bearing", title="x", user=engineer)
    with django_capture_on_commit_callbacks() as callbacks:
        request_comment(request_id=request.pk, user=engineer, text="hello")
    assert _notifications(callbacks) == []
    assert MaintenanceRequest.objects.count() == 1


def test_closing_writes_the_models_maintenance_command_only_as_its_write_policy_allows(watched):
    from maintenance.services.health import health_model_create

    command = TagFactory(machine=watched.machine, name="command", data_type="uint16", writable=True)
    health_model_create(
        machine=watched.machine,
        signals=list(watched.tags.values()),
        maintenance_command_tag=command,
        maintenance_command_value=4,
    )
    engineer = UserFactory(role=Role.ENGINEER)
    request = request_open(machine=watched.machine, component="bearing", title="Worn", user=engineer)

    request_close(request_id=request.pk, user=engineer, note="done")

    # The tag has no write policy and its device no writes enabled: refused, recorded, the request done anyway.
    [comment] = request.comments.all()
    assert comment.text.startswith("Maintenance command: refused:")
    assert AuditEvent.objects.filter(action="plc_write_refused").count() == 1
    request.refresh_from_db()
    assert request.status == RequestStatus.DONE
