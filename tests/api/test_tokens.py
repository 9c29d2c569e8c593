import pytest
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from api.services.tokens import api_token_create, api_token_revoke, token_digest
from audit.models import AuditAction, AuditEvent

TAGS_URL = "/api/v1/tags/"


def test_a_token_is_stored_only_as_its_digest_and_authenticates(engineer, plant):
    token, plain = api_token_create(user=engineer, name="energy report")
    assert plain.startswith("mw_")
    assert len(plain) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == token_digest(plain)
    assert plain not in (stored.digest, stored.prefix)
    assert stored.last_used_at is None

    response = Client(headers={"Authorization": f"Bearer {plain}"}).get(TAGS_URL)

    assert response.status_code == 200
    assert response.json()["count"] == 4
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_without_credentials_the_api_answers_401_with_a_bearer_challenge(db):
    response = Client().get(TAGS_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer mw_not-a-real-token", "Bearer", "Bearer a b", "Token nonsense"])
def test_a_wrong_token_is_refused(db, header):
    assert Client(headers={"Authorization": header}).get(TAGS_URL).status_code == 401


def test_a_revoked_token_no_longer_works_and_both_events_are_audited(engineer, plant):
    token, plain = api_token_create(user=engineer, name="energy report", remote_addr="10.0.0.7")
    client = Client(headers={"Authorization": f"Bearer {plain}"})
    assert client.get(TAGS_URL).status_code == 200

    assert api_token_revoke(token=token, actor=engineer) is True
    assert api_token_revoke(token=token, actor=engineer) is False

    assert client.get(TAGS_URL).status_code == 401
    events = list(AuditEvent.objects.filter(actor=engineer).order_by("timestamp", "id"))
    assert [e.action for e in events] == [AuditAction.TOKEN_CREATE, AuditAction.TOKEN_REVOKE]
    assert events[0].remote_addr == "10.0.0.7"
    assert events[0].details["name"] == "energy report"
    assert plain not in str(events[0].details)


def test_a_deactivated_users_token_is_refused(engineer, plant):
    plain = api_token_create(user=engineer, name="script")[1]
    engineer.is_active = False
    engineer.save()
    assert Client(headers={"Authorization": f"Bearer {plain}"}).get(TAGS_URL).status_code == 401


def test_the_tokens_page_creates_a_token_shown_once_and_revokes_it(engineer, plant, api_as):
    client = api_as(engineer)

    created = client.post(reverse("tokens:list"), {"name": "nightly export"})

    assert created.status_code == 200
    token = ApiToken.objects.get(user=engineer)
    plain = created.context["plain"]
    assert token_digest(plain) == token.digest
    assert plain in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    listed = client.get(reverse("tokens:list")).content.decode()
    assert "nightly export" in listed
    assert plain not in listed

    client.post(reverse("tokens:revoke", args=[token.pk]))

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client(headers={"Authorization": f"Bearer {plain}"}).get(TAGS_URL).status_code == 401


def test_a_token_needs_a_name(engineer, api_as):
    response = api_as(engineer).post(reverse("tokens:list"), {"name": "  "})
    assert response.status_code == 400
    assert "name" in response.context["error"]
    assert not ApiToken.objects.exists()


def test_nobody_revokes_another_users_token(engineer, make_user, api_as):
    from accounts.services.roles import Role

    other = make_user("other-engineer", role=Role.ENGINEER)
    token = api_token_create(user=engineer, name="mine")[0]
    assert api_as(other).post(reverse("tokens:revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.active


def test_an_operator_cannot_manage_tokens(operator, api_as):
    assert api_as(operator).get(reverse("tokens:list")).status_code == 403
