from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from audit.models import AuditEvent


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    remote_addr: str | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event. `actor_username` names an actor that is no user (e.g. the name a failed login tried)."""
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        actor_username=user.get_username() if user is not None else actor_username[:150],
        action=action,
        target=target[:300],
        details=details or {},
        remote_addr=remote_addr or None,
    )
