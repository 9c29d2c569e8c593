"""The maintenance write endpoints: open, plan, assign, comment and close work requests through the API, checked
like the pages (maintenance.services.requests: MaintenanceArea, audit), a token only with its write scope, a
session only with its CSRF token; closing as done is the page's close: recorded, the health model re-baselined and
the machine's maintenance command written to the (simulated) PLC."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services.roles import Role
from api.services.tokens import api_token_create
from audit.models import AuditEvent
from demo.maintenance import demo_maintenance_load
from demo.simulator.plant import MachineCommand
from maintenance.models import HealthModel, MaintenanceArea, MaintenanceRequest
from maintenance.services.requests import request_close, request_open
from production.models import MachineState, StateInterval
from tests.factories import MachineFactory, UserFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"


def _token_client(user, *, can_write: bool) -> Client:
    token, plain = api_token_create(user=user, name="cmms sync")
    token.can_write = can_write
    token.save()
    return Client(headers={"Authorization": f"Bearer {plain}"})


@pytest.fixture
def machine():
    return MachineFactory(name="CNC 102")


@pytest.fixture
def engineer():
    return UserFactory(username="eve", role=Role.ENGINEER)  # work requests in every area


def test_a_token_opens_a_request_only_with_its_write_scope(machine, engineer):
    body = {"machine": machine.pk, "component": "spindle bearing", "title": "Noisy"}
    reader = _token_client(engineer, can_write=False)
    refused = reader.post(reverse("api:maintenance_requests"), body, content_type=JSON)
    assert refused.status_code == 403
    assert "no write scope" in refused.json()["detail"]
    assert not MaintenanceRequest.objects.exists()

    writer = _token_client(engineer, can_write=True)
    response = writer.post(reverse("api:maintenance_requests"), body, content_type=JSON)

    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["machine"], created["status"], created["created_by"]) == ("CNC 102", "open", "eve")
    assert created["comments"] == []
    assert created["downtime"] == []
    assert AuditEvent.objects.filter(action="maintenance_request_open", actor=engineer).exists()


def test_an_operator_works_on_requests_only_in_the_areas_maintenance_grants_them(machine):
    operator = UserFactory(username="op", role=Role.OPERATOR)
    client = _token_client(operator, can_write=True)
    body = {"machine": machine.pk, "component": "spindle bearing", "title": "Noisy"}
    refused = client.post(reverse("api:maintenance_requests"), body, content_type=JSON)
    assert refused.status_code == 403
    assert "CNC 102" in refused.json()["detail"]

    MaintenanceArea.objects.create(area=machine.line.area, user=operator)
    assert client.post(reverse("api:maintenance_requests"), body, content_type=JSON).status_code == 201


def test_a_session_needs_its_csrf_token(machine, engineer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    body = {"machine": machine.pk, "component": "spindle bearing", "title": "Noisy"}
    response = client.post(reverse("api:maintenance_requests"), body, content_type=JSON)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"component": "bearing", "title": "x"}, "machine"),
        ({"machine": 999_999, "component": "bearing", "title": "x"}, "machine"),
        ({"machine": "CNC", "component": "bearing", "title": "x"}, "machine"),
        ({"component": " ", "title": " "}, "component"),
    ],
)
def test_bad_new_requests_get_400_naming_the_field(machine, engineer, body, field):
    body = {"machine": machine.pk, **body} if "machine" not in body and field != "machine" else body
    response = _token_client(engineer, can_write=True).post(
        reverse("api:maintenance_requests"), body, content_type=JSON
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_request_is_planned_assigned_commented_and_closed_through_the_api(machine, engineer):
    request = request_open(machine=machine, component="spindle bearing", title="Noisy", user=engineer)
    fitter = UserFactory(username="fitter", role=Role.OPERATOR)
    client = _token_client(engineer, can_write=True)
    url = reverse("api:maintenance_request", args=[request.pk])
    when = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    planned = client.patch(url, {"status": "planned", "planned_for": when.isoformat(), "assignee": "fitter"}, JSON)
    assert planned.status_code == 200, planned.content
    assert (planned.json()["status"], planned.json()["assignee"]) == ("planned", "fitter")
    assert planned.json()["planned_for"].startswith(when.strftime("%Y-%m-%dT%H:%M"))

    assert client.patch(url, {"assignee": None}, JSON).json()["assignee"] is None
    comment = client.post(
        reverse("api:maintenance_request_comments", args=[request.pk]), {"text": "Bearing on order"}, JSON
    )
    assert comment.status_code == 201
    assert comment.json()["author"] == "eve"

    back = client.patch(url, {"status": "open"}, JSON)
    assert back.status_code == 409
    assert "does not go back to open" in back.json()["detail"]

    done = client.patch(url, {"status": "done", "note": "Replaced"}, JSON)
    assert done.status_code == 200
    body = done.json()
    assert (body["status"], body["closed_by"], body["done_note"]) == ("done", "eve", "Replaced")
    assert [c["text"] for c in body["comments"]] == ["Bearing on order"]
    assert client.patch(url, {"status": "done"}, JSON).status_code == 409  # a done request stays done
    actions = set(AuditEvent.objects.filter(actor=engineer).values_list("action", flat=True))
    assert {"maintenance_request_plan", "maintenance_request_assign", "maintenance_request_comment"} <= actions
    assert "maintenance_request_done" in actions
    assert fitter.pk  # (assigned, then unassigned)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"planned_for": "2030-01-01T00:00:00Z"}, 400, "goes with status planned"),
        ({"note": "x"}, 400, "goes with status done"),
        ({"assignee": "nobody-here"}, 400, "No such user"),
        ({"status": "closed"}, 400, "status"),
    ],
)
def test_bad_changes_are_refused_with_a_clear_message(machine, engineer, body, status, text):
    request = request_open(machine=machine, component="spindle bearing", title="Noisy", user=engineer)
    response = _token_client(engineer, can_write=True).patch(
        reverse("api:maintenance_request", args=[request.pk]), body, JSON
    )
    assert response.status_code == status
    assert text in str(response.json())


def test_changing_an_unknown_request_is_404(engineer):
    client = _token_client(engineer, can_write=True)
    assert client.patch(reverse("api:maintenance_request", args=[999_999]), {}, JSON).status_code == 404
    comment = client.post(reverse("api:maintenance_request_comments", args=[999_999]), {"text": "x"}, JSON)
    assert comment.status_code == 404


def test_closing_through_the_api_is_the_pages_close_re_baseline_and_maintenance_command(
    demo_plant, plant_server, engineer
):
    admin = UserFactory(superuser=True)
    model = demo_maintenance_load(admin=admin)
    assert model is not None
    HealthModel.objects.filter(pk=model.pk).update(alerted_at=timezone.now())
    request = request_open(machine=model.machine, component="spindle bearing", title="Bearing", by_monitor=True)
    client = _token_client(admin, can_write=True)

    response = client.patch(
        reverse("api:maintenance_request", args=[request.pk]), {"status": "done", "note": "New bearing"}, JSON
    )

    assert response.status_code == 200, response.content
    assert plant_server.plant.machine_named("L1-M2").last_command == MachineCommand.MAINTENANCE
    model.refresh_from_db()
    assert model.alerted_at is None  # re-baselined: trained again from the maintenance on, free to alert again
    assert model.current_version is None
    assert model.training_start == MaintenanceRequest.objects.get(pk=request.pk).closed_at
    assert any(c["text"].startswith("Maintenance command: executed") for c in response.json()["comments"])


def test_a_request_lists_its_machines_stops_before_while_open_and_after_done(machine, engineer):
    request = request_open(machine=machine, component="spindle bearing", title="Noisy", user=engineer)
    opened = request.created_at

    def stop(start_min: float, end_min: float | None) -> StateInterval:
        return StateInterval.objects.create(
            machine=machine,
            state=MachineState.UNPLANNED_DOWN,
            start=opened + timedelta(minutes=start_min),
            end=None if end_min is None else opened + timedelta(minutes=end_min),
        )

    before = stop(-120, -100)
    StateInterval.objects.create(
        machine=machine, state=MachineState.RUNNING, start=opened - timedelta(minutes=100), end=opened
    )
    maintenance = stop(10, 40)
    request_close(request_id=request.pk, user=engineer, note="Replaced")
    # Done an hour after it was opened (the stops above are invented around it, as production would derive them).
    MaintenanceRequest.objects.filter(pk=request.pk).update(closed_at=opened + timedelta(minutes=60))
    request.refresh_from_db()
    after = StateInterval.objects.create(
        machine=machine,
        state=MachineState.UNPLANNED_DOWN,
        start=request.closed_at + timedelta(minutes=5),
        end=request.closed_at + timedelta(minutes=8),
    )
    client = _token_client(engineer, can_write=False)

    downtime = client.get(reverse("api:maintenance_request", args=[request.pk])).json()["downtime"]

    assert [(d["id"], d["relation"]) for d in downtime] == [
        (before.pk, "before"),
        (maintenance.pk, "while_open"),
        (after.pk, "after_done"),
    ]
    assert downtime[0]["state"] == MachineState.UNPLANNED_DOWN
