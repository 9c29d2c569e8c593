"""Changes to users, groups, roles, permissions and passwords land in the append-only audit trail."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory


@pytest.fixture
def administrator(db, client):
    user = UserFactory(username="ada", role=Role.ADMINISTRATOR)
    client.force_login(user)
    return user


def _entries(instance, after: int = 0):
    return LogEntry.objects.get_for_object(instance).filter(id__gt=after).order_by("id")


def _last_id() -> int:
    return LogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_user_change_in_admin_is_recorded_with_before_and_after(client, administrator):
    olga = UserFactory(username="olga")
    engineer = Group.objects.get(name=Role.ENGINEER.value)
    mark = _last_id()

    client.post(
        f"/admin/auth/user/{olga.pk}/change/",
        {
            "username": "olga",
            "email": "olga@plant.example",
            "is_active": "on",
            "groups": [str(engineer.pk)],
            "date_joined_0": olga.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": olga.date_joined.strftime("%H:%M:%S"),
        },
    )

    entries = list(_entries(olga, mark))
    assert all(entry.actor == administrator for entry in entries)
    changes = {}
    for entry in entries:
        changes.update(entry.changes_dict)
    assert changes["email"] == ["", "olga@plant.example"]
    assert changes["groups"]["operation"] in {"add", "remove"}
    groups_added = [
        e.changes_dict["groups"] for e in entries if e.changes_dict.get("groups", {}).get("operation") == "add"
    ]
    assert groups_added
    assert Role.ENGINEER.value in groups_added[0]["objects"]


def test_a_superuser_flag_and_a_permission_given_are_recorded(django_user_model):
    olga = UserFactory(username="olga")
    mark = _last_id()

    olga.is_superuser = True
    olga.save()
    olga.user_permissions.add(Permission.objects.get(codename="delete_user"))

    changes = [entry.changes_dict for entry in _entries(olga, mark)]
    assert {"is_superuser": ["False", "True"]} in changes
    assert any(c.get("user_permissions", {}).get("operation") == "add" for c in changes)


def test_a_group_permission_change_is_recorded(db):
    group = Group.objects.create(name="Shift leads")
    group.permissions.add(Permission.objects.get(codename="acknowledge_alarm"))

    changes = [entry.changes_dict for entry in _entries(group)]
    assert any(c.get("permissions", {}).get("operation") == "add" for c in changes)


def test_a_password_change_is_recorded_as_changed_never_as_a_hash(client, administrator):
    olga = UserFactory(username="olga")
    before_hash = olga.password

    client.post(
        f"/admin/auth/user/{olga.pk}/password/",
        {"password1": "new-secret-77x", "password2": "new-secret-77x", "usable_password": "true"},
    )

    olga.refresh_from_db()
    assert olga.check_password("new-secret-77x")
    event = AuditEvent.objects.get(action=AuditAction.PASSWORD_CHANGE)
    assert (event.actor, event.target, event.details) == (administrator, "olga", {"password": "changed"})
    logged = " ".join(str(entry.changes) for entry in LogEntry.objects.all()) + str(
        list(AuditEvent.objects.values_list("details", flat=True))
    )
    assert before_hash not in logged
    assert olga.password not in logged


def test_a_login_records_no_password_change(client, db):
    UserFactory(username="olga")

    client.post("/login/", {"username": "olga", "password": "pw-olga-1"})

    assert not AuditEvent.objects.filter(action=AuditAction.PASSWORD_CHANGE).exists()


def test_a_password_set_after_a_request_names_no_actor_from_that_request(client, administrator):
    """django-auditlog leaves its actor set once a request ends; a later command must not inherit that user."""
    olga = UserFactory(username="olga")
    client.get("/admin/")  # a request by the administrator, served in this thread

    olga.set_password("from-a-command-88")
    olga.save()

    event = AuditEvent.objects.get(action=AuditAction.PASSWORD_CHANGE)
    assert (event.actor, event.target) == (None, "olga")
