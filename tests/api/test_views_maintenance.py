"""The maintenance endpoints: work requests as JSON and as CSV (formula guard)."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.services.roles import Role
from maintenance.services.requests import request_comment, request_open
from tests.factories import MachineFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def work():
    engineer = UserFactory(username="eve", role=Role.ENGINEER)
    request = request_open(
        machine=MachineFactory(name="CNC 102"), component="bearing", title="=HYPERLINK(1)", user=engineer
    )
    request_comment(request_id=request.pk, user=engineer, text="Parts ordered")
    return request


def test_requests_are_listed_and_filtered_by_status(client, work):
    client.force_login(UserFactory(role=Role.OPERATOR))
    [row] = client.get(reverse("api:maintenance_requests"), {"status": "open"}).json()
    assert (row["id"], row["machine"], row["status"], row["created_by"]) == (work.pk, "CNC 102", "open", "eve")
    assert client.get(reverse("api:maintenance_requests"), {"status": "done"}).json() == []
    assert client.get(reverse("api:maintenance_requests"), {"status": "bogus"}).status_code == 400


def test_one_request_has_its_comments(client, work):
    client.force_login(UserFactory(role=Role.OPERATOR))
    body = client.get(reverse("api:maintenance_request", args=[work.pk])).json()
    assert [c["text"] for c in body["comments"]] == ["Parts ordered"]
    assert client.get(reverse("api:maintenance_request", args=[999_999])).status_code == 404


def test_the_csv_export_guards_formulas(client, work):
    client.force_login(UserFactory(role=Role.ENGINEER))
    response = client.get(reverse("api:maintenance_requests_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["id"] for r in rows] == [str(work.pk)]
    assert rows[0]["title"] == "'=HYPERLINK(1)"
