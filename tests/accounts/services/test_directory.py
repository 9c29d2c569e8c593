"""Directory sign-in against a real OpenLDAP slapd: roles from directory groups, local accounts kept for break-glass."""

import pytest

from accounts.services.roles import Role
from tests.accounts.ldap_server import ldap_server, slapd_missing

pytestmark = pytest.mark.skipif(slapd_missing() is not None, reason=slapd_missing() or "")

ROLE_GROUPS = {
    "mw-operators": "Operator",
    "mw-engineers": "Engineer",
    "mw-admins": "Administrator",
    "Line 1, shift A": "Operator",
}


@pytest.fixture(scope="module")
def directory():
    with ldap_server() as server:
        olga = server.person_add("olga", "olga-dir-pw", given_name="Olga", surname="Ivanova", mail="olga@plant.example")
        erik = server.person_add("erik", "erik-dir-pw", surname="Berg")
        server.person_add("nobody", "nobody-dir-pw")
        ines = server.person_add("ines", "ines-dir-pw")
        server.group_add("Line 1, shift A", [ines])  # its DN: cn=Line 1\, shift A,ou=groups,...
        server.person_add("admin", "directory-side-admin-pw")
        server.group_add("mw-operators", [olga, erik])
        server.group_add("mw-engineers", [erik, f"cn=admin,{server.base_dn}"])  # groupOfNames needs one member left
        server.group_add("finance", [olga])
        yield server


@pytest.fixture
def directory_settings(settings, directory):
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django_python3_ldap.auth.LDAPBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.LDAP_AUTH_URL = [directory.url]
    settings.LDAP_AUTH_SEARCH_BASE = directory.people_dn
    settings.LDAP_GROUP_BASE = directory.groups_dn
    settings.LDAP_ROLE_GROUPS = ROLE_GROUPS
    return directory


def _sign_in(client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def _roles(user) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def test_a_directory_user_signs_in_with_the_role_of_their_group(client, directory_settings, django_user_model):
    response = _sign_in(client, "olga", "olga-dir-pw")

    assert response.status_code == 302
    olga = django_user_model.objects.get(username="olga")
    assert (olga.first_name, olga.last_name, olga.email) == ("Olga", "Ivanova", "olga@plant.example")
    assert _roles(olga) == [Role.OPERATOR.value]  # "finance" maps to no role
    assert not olga.has_usable_password()  # the directory holds the password, not Millwright
    assert client.get("/").status_code == 200


def test_the_highest_mapped_role_wins_and_follows_the_directory(client, directory_settings, django_user_model):
    _sign_in(client, "erik", "erik-dir-pw")
    erik = django_user_model.objects.get(username="erik")
    assert _roles(erik) == [Role.ENGINEER.value]

    directory_settings.group_member_remove("mw-engineers", f"uid=erik,{directory_settings.people_dn}")
    client.logout()
    _sign_in(client, "erik", "erik-dir-pw")

    assert _roles(erik) == [Role.OPERATOR.value]


def test_a_group_whose_name_has_an_escaped_comma_maps_to_its_role(client, directory_settings, django_user_model):
    _sign_in(client, "ines", "ines-dir-pw")

    assert _roles(django_user_model.objects.get(username="ines")) == [Role.OPERATOR.value]


def test_a_wrong_directory_password_is_refused(client, directory_settings, django_user_model):
    response = _sign_in(client, "olga", "not-her-password")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_directory_user_in_no_mapped_group_gets_no_role(client, directory_settings, django_user_model):
    _sign_in(client, "nobody", "nobody-dir-pw")

    assert _roles(django_user_model.objects.get(username="nobody")) == []
    assert client.get("/").status_code == 403


def test_a_local_break_glass_account_is_kept_and_never_taken_over(client, directory_settings, django_user_model):
    local = django_user_model.objects.create_superuser("admin", password="local-break-glass-1")

    assert _sign_in(client, "admin", "directory-side-admin-pw").status_code == 200  # refused
    assert "_auth_user_id" not in client.session
    assert _sign_in(client, "admin", "local-break-glass-1").status_code == 302
    local.refresh_from_db()
    assert local.is_superuser
    assert local.check_password("local-break-glass-1")


def test_with_the_directory_unreachable_local_accounts_still_sign_in(client, settings, make_user):
    from common.net import free_port

    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django_python3_ldap.auth.LDAPBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.LDAP_AUTH_URL = [f"ldap://127.0.0.1:{free_port()}"]  # nothing listens
    settings.LDAP_AUTH_CONNECT_TIMEOUT = 1
    make_user("olga")

    assert _sign_in(client, "olga", "pw-olga-1").status_code == 302
