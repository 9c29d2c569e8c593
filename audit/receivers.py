"""Thin: the authentication signals become audit events."""

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from audit.middleware import current_request
from audit.models import AuditAction
from audit.services.events import audit_record
from historian.signals import tag_csv_applied


def _remote_addr(request: HttpRequest | None) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in, dispatch_uid="audit.login")
def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.LOGIN, remote_addr=_remote_addr(request))


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, remote_addr=_remote_addr(request))


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Django has already masked the password in `credentials`; only the name tried is kept.
    username = str(credentials.get("username", ""))
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        actor_username=username,
        target=username,
        remote_addr=_remote_addr(request),
    )


@receiver(user_locked_out, dispatch_uid="audit.login_lockout")
def _locked_out(sender: Any, request: HttpRequest | None, username: str | None, ip_address: str | None, **kwargs: Any):
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_LOCKOUT,
        actor_username=username or "",
        target=username or "",
        details={
            "failures": settings.AXES_FAILURE_LIMIT,
            "cool_off_minutes": settings.AXES_COOLOFF_TIME.total_seconds() / 60,
        },
        remote_addr=ip_address,
    )


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="audit.password_change")
def _password_changed(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    """A new password hash is recorded as "changed", never the hash (auditlog excludes the field)."""
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    before = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if before is None or before == instance.password:
        return
    # The request's user (none outside a request: a management command such as `changepassword`).
    request = current_request()
    audit_record(
        actor=getattr(request, "user", None),
        action=AuditAction.PASSWORD_CHANGE,
        target=instance.get_username(),
        details={"password": "changed"},
        remote_addr=_remote_addr(request),
    )


@receiver(tag_csv_applied, dispatch_uid="audit.tag_csv_applied")
def _tag_csv_applied(sender: Any, actor: Any, filename: str, details: dict[str, Any], **kwargs: Any) -> None:
    audit_record(actor=actor, action=AuditAction.TAG_CSV_IMPORT, target=filename, details=details)
