"""Sign-in throttling: a user name is locked at one address after repeated wrong passwords, audited, unlockable."""

from datetime import timedelta

import time_machine
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent


def _sign_in(client, password: str, address: str = "10.0.0.7"):
    return client.post("/login/", {"username": "olga", "password": password}, REMOTE_ADDR=address)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail_until_locked(client, address: str = "10.0.0.7") -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "guess", address)


def test_the_right_password_is_refused_after_repeated_wrong_ones(client, make_user):
    make_user("olga")

    _fail_until_locked(client)
    response = _sign_in(client, "pw-olga-1")

    assert response.status_code == 429
    assert "Sign-in locked" in response.content.decode()
    assert not _signed_in(client)
    # Once when the limit is reached, again for each attempt while locked.
    events = AuditEvent.objects.filter(action=AuditAction.LOGIN_LOCKOUT)
    assert {(event.target, event.remote_addr) for event in events} == {("olga", "10.0.0.7")}


def test_the_lock_is_per_user_and_address_so_another_terminal_still_signs_in(client, make_user):
    make_user("olga")
    _fail_until_locked(client, "10.0.0.7")

    response = _sign_in(client, "pw-olga-1", "10.0.0.8")

    assert response.status_code == 302
    assert _signed_in(client)


def test_the_lock_ends_after_the_cool_off(client, make_user):
    make_user("olga")
    _fail_until_locked(client)

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        response = _sign_in(client, "pw-olga-1")

    assert response.status_code == 302


def test_an_administrator_unlocks_in_admin_and_the_unlock_is_audited(client, make_user):
    make_user("olga")
    _fail_until_locked(client)
    ada = make_user("ada", role=Role.ADMINISTRATOR)
    attempt = AccessAttempt.objects.get(username="olga")

    client.force_login(ada)
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    client.logout()

    assert response.status_code == 302
    entry = LogEntry.objects.get_for_object(attempt).get(action=LogEntry.Action.DELETE)
    assert entry.actor == ada
    assert _sign_in(client, "pw-olga-1").status_code == 302
