"""Logins, logouts and failed logins land in the audit trail."""

from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory


def test_a_login_and_a_logout_are_recorded_with_the_user_and_address(client, db):
    user = UserFactory(username="olga")

    client.post("/login/", {"username": "olga", "password": "pw-olga-1"}, REMOTE_ADDR="10.1.2.3")
    client.post("/logout/")

    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor", "actor_username", "remote_addr"))
    assert events == [
        (AuditAction.LOGIN, user.pk, "olga", "10.1.2.3"),
        (AuditAction.LOGOUT, user.pk, "olga", "127.0.0.1"),
    ]


def test_a_failed_login_is_recorded_with_the_name_tried_and_never_the_password(client, db):
    UserFactory(username="olga")

    response = client.post("/login/", {"username": "olga", "password": "wrong-password"})

    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.actor_username, event.target) == (
        AuditAction.LOGIN_FAILED,
        None,
        "olga",
        "olga",
    )
    assert "wrong-password" not in str(event.details)
