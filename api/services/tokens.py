"""Creating, revoking and checking API tokens (the model's doc says how they are kept)."""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from audit.models import AuditAction
from audit.services.events import audit_record

TOKEN_PREFIX = "mw_"  # noqa: S105 (a public marker, not a secret)
# last_used_at is written at most this often per token: not one UPDATE per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ACTIVE_TOKENS_PER_USER = 50


class TokenError(ValueError):
    pass


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: User, name: str, remote_addr: str | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it with the plain token, which is not kept and cannot be shown again."""
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name that says what it is for.")
    if len(name) > 100:
        raise TokenError("A token name has at most 100 characters.")
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS_PER_USER:
        raise TokenError(f"At most {MAX_ACTIVE_TOKENS_PER_USER} active tokens per user: revoke one first.")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=plain[:10], digest=token_digest(plain))
        audit_record(
            actor=user,
            action=AuditAction.TOKEN_CREATE,
            target=f"API token {token.pk} {name}",
            details={"token_id": token.pk, "name": name, "prefix": token.prefix},
            remote_addr=remote_addr,
        )
    return token, plain


def api_token_revoke(*, token: ApiToken, actor: User, remote_addr: str | None = None) -> bool:
    """Revoke `token` (False if it already was). Kept, not deleted: the audit trail and the list still name it."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            audit_record(
                actor=actor,
                action=AuditAction.TOKEN_REVOKE,
                target=f"API token {token.pk} {token.name}",
                details={"token_id": token.pk, "name": token.name, "prefix": token.prefix, "owner": token.user_id},
                remote_addr=remote_addr,
            )
    token.refresh_from_db(fields=["revoked_at"])
    return bool(revoked)


def api_token_authenticate(*, plain: str) -> ApiToken | None:
    """The active token of an active user that `plain` is, else None; notes when it was last used."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(plain), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
