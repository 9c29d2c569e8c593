"""The user admin grants no more than the editor holds: no superuser, no escalation, no superuser takeover."""

import pytest
from django.contrib.auth.models import Group, Permission

from accounts.services.roles import Role
from tests.factories import UserFactory


@pytest.fixture
def administrator(make_user, client):
    user = make_user("ada", role=Role.ADMINISTRATOR)
    client.force_login(user)
    return user


def _change_form(user, **overrides):
    """The POST the user admin's change form sends for `user`, with `overrides`."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [str(pk) for pk in user.user_permissions.values_list("pk", flat=True)],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def test_an_administrator_cannot_make_themselves_superuser(client, administrator):
    response = client.post(
        f"/admin/auth/user/{administrator.pk}/change/", _change_form(administrator, is_superuser="on")
    )

    assert response.status_code == 302  # saved, but the flag is not theirs to set
    administrator.refresh_from_db()
    assert administrator.is_superuser is False


def test_an_administrator_cannot_change_a_superuser_or_reset_their_password(client, administrator):
    root = UserFactory(username="root", password="root-secret-1", superuser=True)

    change = client.post(f"/admin/auth/user/{root.pk}/change/", _change_form(root, is_active=""))
    password = client.post(
        f"/admin/auth/user/{root.pk}/password/",
        {"password1": "taken-over-9x", "password2": "taken-over-9x", "usable_password": "true"},
    )

    assert (change.status_code, password.status_code) == (403, 403)
    root.refresh_from_db()
    assert root.is_active is True
    assert root.check_password("root-secret-1")
    assert client.get(f"/admin/auth/user/{root.pk}/change/").status_code == 200  # may still see who it is


def test_an_administrator_cannot_give_a_permission_they_do_not_hold(client, administrator, make_user):
    olga = make_user("olga")
    delete_user = _permission("auth.delete_user")  # no role holds it: accounts are deactivated, never deleted

    response = client.post(
        f"/admin/auth/user/{olga.pk}/change/", _change_form(olga, user_permissions=[str(delete_user.pk)])
    )

    assert response.status_code == 200  # the form comes back with the error
    assert "not one of the available choices" in response.content.decode()
    assert not olga.user_permissions.exists()


def test_an_administrator_cannot_give_a_group_that_holds_more_than_they_do(client, administrator, make_user):
    olga = make_user("olga")
    wide = Group.objects.create(name="Deleters")
    wide.permissions.add(_permission("auth.delete_user"))

    response = client.post(f"/admin/auth/user/{olga.pk}/change/", _change_form(olga, groups=[str(wide.pk)]))

    assert response.status_code == 200
    assert not olga.groups.filter(pk=wide.pk).exists()


def test_an_administrator_can_give_a_role_and_keeps_what_they_cannot_grant(client, administrator, make_user):
    olga = make_user("olga", role=Role.OPERATOR)
    delete_user = _permission("auth.delete_user")
    olga.user_permissions.add(delete_user)  # given by a superuser
    engineer = Group.objects.get(name=Role.ENGINEER.value)

    # The form offers only what the editor may grant, so the browser posts no delete_user.
    form = _change_form(olga, groups=[str(engineer.pk)], user_permissions=[])
    response = client.post(f"/admin/auth/user/{olga.pk}/change/", form)

    assert response.status_code == 302
    assert list(olga.groups.values_list("name", flat=True)) == [Role.ENGINEER.value]
    assert olga.user_permissions.filter(pk=delete_user.pk).exists()


def test_a_superuser_can_still_grant_superuser(client, make_user):
    root = UserFactory(username="root", password="root-secret-1", superuser=True)
    olga = make_user("olga")
    client.force_login(root)

    response = client.post(f"/admin/auth/user/{olga.pk}/change/", _change_form(olga, is_superuser="on"))

    assert response.status_code == 302
    olga.refresh_from_db()
    assert olga.is_superuser is True
