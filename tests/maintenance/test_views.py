"""The maintenance pages: health overview, machine health (retrain), requests and their actions, per permission."""

import pytest
from django.urls import reverse

from accounts.services.roles import Role
from maintenance.models import MaintenanceArea, MaintenanceRequest, RequestStatus
from maintenance.services.fitting import health_model_fit
from maintenance.services.requests import request_open
from tests.factories import UserFactory


@pytest.fixture
def fitted(watched):
    model = watched.model()
    health_model_fit(model=model)
    model.refresh_from_db()
    return model


def test_the_plant_health_overview_lists_each_machine_with_its_model(client, fitted):
    client.force_login(UserFactory(role=Role.OPERATOR))
    response = client.get(reverse("maintenance:health_overview"))
    assert response.status_code == 200
    assert b"CNC 102" in response.content
    assert reverse("maintenance:machine_health", args=[fitted.machine_id]).encode() in response.content


def test_the_machine_health_page_shows_the_training_window_and_version(client, fitted):
    client.force_login(UserFactory(role=Role.OPERATOR))
    response = client.get(reverse("maintenance:machine_health", args=[fitted.machine_id]))
    assert response.status_code == 200
    assert b"version 1" in response.content
    assert fitted.training_start.strftime("%Y-%m-%d %H:%M").encode() in response.content
    assert b"Retrain" not in response.content  # operators do not retrain
    assert b'id="health-data"' in response.content


def test_an_operator_may_not_retrain_and_an_engineer_gets_a_new_version(client, fitted):
    url = reverse("maintenance:machine_health", args=[fitted.machine_id])
    client.force_login(UserFactory(role=Role.OPERATOR))
    assert client.post(url, {}).status_code == 403

    client.force_login(UserFactory(role=Role.ENGINEER))
    response = client.post(url, {}, follow=True)
    assert b"Retrained: version 2" in response.content
    assert fitted.versions.count() == 2


def test_retraining_on_too_little_data_says_so(client, fitted, watched):
    client.force_login(UserFactory(role=Role.ENGINEER))
    start = watched.start.replace(year=watched.start.year - 1)
    response = client.post(
        reverse("maintenance:machine_health", args=[fitted.machine_id]),
        {
            "start": start.strftime("%Y-%m-%d %H:%M"),
            "end": (start.replace(hour=(start.hour + 1) % 24)).strftime("%Y-%m-%d %H:%M"),
        },
    )
    assert response.status_code == 200
    assert b"Not retrained: too little training data" in response.content
    assert fitted.versions.count() == 1


def test_a_request_is_worked_on_only_where_the_user_may(client, watched):
    engineer = UserFactory(role=Role.ENGINEER)
    work = request_open(machine=watched.machine, component="bearing", title="Noisy", user=engineer)
    action = reverse("maintenance:request_action", args=[work.pk])
    operator = UserFactory(role=Role.OPERATOR)

    client.force_login(operator)
    page = client.get(reverse("maintenance:request_detail", args=[work.pk]))
    assert page.status_code == 200
    assert b'name="action"' not in page.content  # no controls outside the operator's areas
    assert client.post(action, {"action": "comment", "text": "hi"}).status_code == 403

    MaintenanceArea.objects.create(area=watched.machine.line.area, user=operator)
    client.post(action, {"action": "comment", "text": "Grease ordered"})
    client.post(action, {"action": "close", "text": "Bearing replaced"})
    work.refresh_from_db()
    assert work.status == RequestStatus.DONE
    assert [c.text for c in work.comments.all()] == ["Grease ordered"]


def test_a_new_request_from_the_list_page(client, watched):
    client.force_login(UserFactory(role=Role.ENGINEER))
    response = client.post(
        reverse("maintenance:requests"), {"machine": watched.machine.pk, "component": "tool", "title": "Chipped"}
    )
    work = MaintenanceRequest.objects.get()
    assert response["Location"] == reverse("maintenance:request_detail", args=[work.pk])
    listing = client.get(reverse("maintenance:requests") + "?status=open")
    assert b"Chipped" in listing.content
