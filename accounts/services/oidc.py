"""Enterprise sign-in through OpenID Connect (Entra ID, Okta, Keycloak, ADFS...), with mozilla-django-oidc.

Who the user is comes from the provider's userinfo: the user name from ``OIDC_USERNAME_CLAIM``
(``preferred_username`` by default), never from the e-mail address (two people can share one, and a provider
that lets users edit their e-mail would let them take over an account). The role is decided at every sign-in
from the groups claim (``OIDC_GROUPS_CLAIM``) through ``OIDC_ROLE_GROUPS``, the highest role wins, exactly as for
LDAP. A local account with a password is never taken over (break-glass): the sign-in is refused and logged.
"""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.services.directory import directory_role_for, local_account_refuse
from accounts.services.roles import user_role_assign

logger = logging.getLogger(__name__)


def oidc_enabled() -> bool:
    return bool(settings.OIDC_RP_CLIENT_ID)


def oidc_group_names(claims: dict[str, Any]) -> list[str]:
    """The groups claim as a list of names (providers send a list, some a single string, some none)."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    return [str(group) for group in groups if isinstance(group, str | int)]


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, matching users by user name and assigning roles from groups."""

    def get_username(self, claims: dict[str, Any]) -> str:
        return str(claims.get(settings.OIDC_USERNAME_CLAIM) or "")

    def describe_user_by_claims(self, claims: dict[str, Any]) -> str:
        return f"user name {self.get_username(claims)!r}"

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        username = self.get_username(claims)
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError:
            logger.warning("OpenID Connect sign-in refused: claim %s is %r", settings.OIDC_USERNAME_CLAIM, username)
            return False
        return 0 < len(username) <= 150

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        username = self.get_username(claims)
        try:
            local_account_refuse(username)
        except PermissionDenied as refused:
            raise SuspiciousOperation(str(refused)) from refused  # the library turns this into a failed sign-in
        return self.UserModel.objects.filter(username=username)

    @transaction.atomic
    def create_user(self, claims: dict[str, Any]) -> AbstractBaseUser:
        user = self.UserModel(username=self.get_username(claims))
        user.set_unusable_password()  # the provider holds the password, not Millwright
        return self.update_user(user, claims)

    @transaction.atomic
    def update_user(self, user: Any, claims: dict[str, Any]) -> AbstractBaseUser:
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.email = str(claims.get("email") or "")[:254]
        user.save()
        role = directory_role_for(oidc_group_names(claims), mapping=settings.OIDC_ROLE_GROUPS)
        user_role_assign(user=user, role=role)
        return user
