"""OpenID Connect sign-in against a real provider (panva/oidc-provider): roles from groups, break-glass kept."""

from urllib.parse import urlsplit

import pytest

from accounts.services.roles import Role
from audit.models import AuditEvent
from tests.accounts.oidc_provider_server import oidc_provider, provider_missing

pytestmark = [
    pytest.mark.skipif(provider_missing() is not None, reason=provider_missing() or ""),
    pytest.mark.django_db,
]

CALLBACK = "http://testserver/oidc/callback/"
ROLE_GROUPS = {"mw-operators": "Operator", "mw-engineers": "Engineer", "mw-admins": "Administrator"}
ACCOUNTS = {
    "olga": {
        "preferred_username": "olga",
        "given_name": "Olga",
        "family_name": "Ivanova",
        "email": "olga@plant.example",
        "groups": ["finance", "mw-operators"],
    },
    "erik": {"preferred_username": "erik", "groups": ["mw-operators", "mw-engineers"]},
    "nobody": {"preferred_username": "nobody", "groups": []},
    "admin": {"preferred_username": "admin", "groups": ["mw-admins"]},
    "weird": {"preferred_username": "bad name<script>", "groups": ["mw-admins"]},
}


@pytest.fixture(scope="module")
def provider():
    with oidc_provider(redirect_uri=CALLBACK, accounts=ACCOUNTS) as server:
        yield server


@pytest.fixture
def oidc_settings(settings, provider):
    for name, value in provider.endpoints().items():
        setattr(settings, name, value)
    settings.OIDC_ROLE_GROUPS = ROLE_GROUPS
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "accounts.services.oidc.OidcBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    return provider


def _sign_in(client, provider, login: str, *, next_url: str = ""):
    """The browser's round trip: Millwright -> provider (login form) -> Millwright's callback."""
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start
    back = provider.sign_in(start["Location"], login)
    assert back.startswith(CALLBACK), back
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def _roles(user) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def test_the_login_page_offers_the_provider_only_when_configured(client, settings, oidc_settings):
    settings.OIDC_PROVIDER_NAME = "Plant Entra ID"
    assert "Sign in with Plant Entra ID" in client.get("/login/").content.decode()

    settings.OIDC_RP_CLIENT_ID = ""
    assert "Sign in with" not in client.get("/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404  # not a 500 from an unconfigured library


def test_a_provider_user_signs_in_with_the_role_of_their_group(client, oidc_settings, django_user_model):
    response = _sign_in(client, oidc_settings, "olga", next_url="/alarms/")

    assert response.status_code == 302
    assert response["Location"] == "/alarms/"
    olga = django_user_model.objects.get(username="olga")
    assert (olga.first_name, olga.last_name, olga.email) == ("Olga", "Ivanova", "olga@plant.example")
    assert _roles(olga) == [Role.OPERATOR.value]  # "finance" maps to no role
    assert not olga.has_usable_password()  # the provider holds the password, not Millwright
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(actor=olga).exists()  # the sign-in is in the audit trail


def test_the_highest_mapped_role_wins_and_a_user_without_one_sees_nothing(client, oidc_settings, django_user_model):
    _sign_in(client, oidc_settings, "erik")
    assert _roles(django_user_model.objects.get(username="erik")) == [Role.ENGINEER.value]

    client.logout()
    _sign_in(client, oidc_settings, "nobody")
    assert _roles(django_user_model.objects.get(username="nobody")) == []
    assert client.get("/").status_code == 403


def test_a_group_no_longer_mapped_loses_its_role_at_the_next_sign_in(
    client, settings, oidc_settings, django_user_model
):
    _sign_in(client, oidc_settings, "erik")
    erik = django_user_model.objects.get(username="erik")
    settings.OIDC_ROLE_GROUPS = {"mw-operators": "Operator"}  # the engineers' group no longer maps to a role
    client.logout()
    _sign_in(client, oidc_settings, "erik")
    assert _roles(erik) == [Role.OPERATOR.value]


def test_a_local_account_with_a_password_is_never_taken_over(client, oidc_settings, django_user_model):
    local = django_user_model.objects.create_user("admin", password="break-glass-pw")

    response = _sign_in(client, oidc_settings, "admin")

    assert response.status_code == 302
    assert response["Location"] == "/login/?sign_in=failed"
    assert "_auth_user_id" not in client.session
    local.refresh_from_db()
    assert _roles(local) == []
    assert local.has_usable_password()
    page = client.get(response["Location"]).content.decode()
    assert "failed" in page


def test_a_deactivated_user_cannot_sign_in_through_the_provider(client, oidc_settings, django_user_model):
    _sign_in(client, oidc_settings, "erik")
    django_user_model.objects.filter(username="erik").update(is_active=False)
    client.logout()

    response = _sign_in(client, oidc_settings, "erik")

    assert response["Location"] == "/login/?sign_in=failed"
    assert "_auth_user_id" not in client.session


def test_a_user_name_claim_that_is_not_a_valid_user_name_is_refused(client, oidc_settings, django_user_model):
    response = _sign_in(client, oidc_settings, "weird")

    assert response["Location"] == "/login/?sign_in=failed"
    assert not django_user_model.objects.filter(username__contains="script").exists()


def test_a_forged_callback_without_the_sessions_state_is_refused(client, oidc_settings):
    response = client.get("/oidc/callback/?code=forged&state=forged")

    assert response.status_code in (302, 400)
    assert "_auth_user_id" not in client.session
