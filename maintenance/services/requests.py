"""Maintenance work requests: open, plan, assign, comment, close as done. Each change is audited and notified.

Who: holders of maintenance.work_requests_any_area everywhere; holders of maintenance.work_requests in the areas
granted to them or their group (MaintenanceArea). The health monitor opens requests as nobody (`by_monitor`).
Closing as done records the maintenance, re-baselines the machine's health model (services/health.py) and writes
the model's maintenance command, if it has one, through the tag's write policy (ingest.services.writes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.utils import timezone

from audit.services.events import audit_record
from historian.models import Machine
from maintenance.models import MaintenanceArea, MaintenanceRequest, RequestComment, RequestStatus
from maintenance.services.live import health_model_publish
from maintenance.services.notify import request_notify

PERM_WORK = "maintenance.work_requests"
PERM_WORK_ANY_AREA = "maintenance.work_requests_any_area"
MAX_COMMENT_CHARS = 4000
MAX_NOTE_CHARS = 4000

User = AuthUser | AnonymousUser


class RequestError(ValueError):
    """A request action that cannot be carried out as asked (the message says why, for people)."""


def request_may_work(*, user: User | None, area_id: int) -> bool:
    """May `user` open, plan, comment and close requests of machines in the area?"""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(PERM_WORK_ANY_AREA):
        return True
    if not user.has_perm(PERM_WORK):
        return False
    return MaintenanceArea.grants(user, area_id)


def _area_id(machine: Machine) -> int:
    return machine.line.area_id


def _check(user: User | None, machine: Machine) -> None:
    if not request_may_work(user=user, area_id=_area_id(machine)):
        raise PermissionError(f"You may not work on maintenance requests of {machine.name}.")


def _locked(request_id: int, user: User | None) -> MaintenanceRequest:
    request = (
        MaintenanceRequest.objects.select_for_update(of=("self",))
        .select_related("machine__line__area")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise RequestError("That request does not exist.")
    _check(user, request.machine)
    return request


def _record(
    request: MaintenanceRequest, *, action: str, user: User | None, details: dict[str, Any], remote_addr: str | None
) -> None:
    audit_record(
        actor=user,
        action=f"maintenance_request_{action}",
        target=str(request)[:300],
        details={"request": request.pk, "machine": request.machine.name, **details},
        remote_addr=remote_addr,
        actor_username="" if user is not None and user.is_authenticated else "health monitor",
    )
    request_notify(request=request, event=action, details=details)
    health_model_publish(machine_id=request.machine_id)  # the health pages' open requests


def request_open(
    *,
    machine: Machine,
    component: str,
    title: str,
    evidence: dict[str, Any] | None = None,
    user: User | None = None,
    by_monitor: bool = False,
    remote_addr: str | None = None,
) -> MaintenanceRequest:
    """A new open request. `by_monitor`: opened by the health monitor (no person, no permission check)."""
    if not by_monitor:
        _check(user, machine)
    component, title = component.strip(), title.strip()
    if not component or not title:
        raise RequestError("A request needs a component and a title.")
    with transaction.atomic():
        request = MaintenanceRequest.objects.create(
            machine=machine,
            component=component[:100],
            title=title[:200],
            evidence=evidence or {},
            created_by=user if user is not None and user.is_authenticated and not by_monitor else None,
            by_monitor=by_monitor,
        )
        _record(
            request,
            action="open",
            user=None if by_monitor else user,
            details={"component": request.component, "title": request.title, "by_monitor": by_monitor},
            remote_addr=remote_addr,
        )
    return request


def request_plan(
    *,
    request_id: int,
    user: User | None,
    planned_for: datetime | None,
    assignee: AuthUser | None = None,
    remote_addr: str | None = None,
) -> MaintenanceRequest:
    """Planned for a time (and to someone); a done request stays done."""
    with transaction.atomic():
        request = _locked(request_id, user)
        if request.status == RequestStatus.DONE:
            raise RequestError("This request is done: open a new one.")
        before = {"status": request.status, "planned_for": _iso(request.planned_for)}
        request.status = RequestStatus.PLANNED
        request.planned_for = planned_for
        if assignee is not None:
            request.assignee = assignee
        request.save(update_fields=["status", "planned_for", "assignee"])
        after = {"status": request.status, "planned_for": _iso(planned_for), "assignee": _name(request.assignee)}
        _record(request, action="plan", user=user, details={"before": before, "after": after}, remote_addr=remote_addr)
    return request


def request_assign(
    *, request_id: int, user: User | None, assignee: AuthUser | None, remote_addr: str | None = None
) -> MaintenanceRequest:
    with transaction.atomic():
        request = _locked(request_id, user)
        before = _name(request.assignee)
        request.assignee = assignee
        request.save(update_fields=["assignee"])
        _record(
            request,
            action="assign",
            user=user,
            details={"before": before, "after": _name(assignee)},
            remote_addr=remote_addr,
        )
    return request


def request_comment(*, request_id: int, user: User | None, text: str, remote_addr: str | None = None) -> RequestComment:
    text = (text or "").strip()
    if not text:
        raise RequestError("A comment needs some text.")
    if len(text) > MAX_COMMENT_CHARS:
        raise RequestError(f"A comment is at most {MAX_COMMENT_CHARS} characters.")
    with transaction.atomic():
        request = _locked(request_id, user)
        comment = RequestComment.objects.create(
            request=request, author=user if user is not None and user.is_authenticated else None, text=text
        )
        _record(request, action="comment", user=user, details={"text": text}, remote_addr=remote_addr)
    return comment


def request_close(
    *, request_id: int, user: User | None, note: str = "", remote_addr: str | None = None
) -> MaintenanceRequest:
    """Done: records the maintenance, re-baselines the machine's health model and writes its maintenance command
    (the write's outcome is in the audit event and in a comment; a refused write does not undo the close)."""
    from maintenance.services.health import health_rebaseline, maintenance_command_write

    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise RequestError(f"A note is at most {MAX_NOTE_CHARS} characters.")
    with transaction.atomic():
        request = _locked(request_id, user)
        if request.status == RequestStatus.DONE:
            raise RequestError("This request is already done.")
        before = request.status
        request.status = RequestStatus.DONE
        request.closed_at = timezone.now()
        request.closed_by = user if user is not None and user.is_authenticated else None
        request.done_note = note
        request.save(update_fields=["status", "closed_at", "closed_by", "done_note"])
        rebaselined = health_rebaseline(machine=request.machine, at=request.closed_at, user=user)
        details: dict[str, Any] = {"before": before, "note": note, "rebaselined": rebaselined}
        _record(request, action="done", user=user, details=details, remote_addr=remote_addr)
    # The write talks to a PLC: outside the transaction (it takes its own locks and may wait for a read-back).
    command = maintenance_command_write(machine=request.machine, user=user, remote_addr=remote_addr)
    if command is not None:
        RequestComment.objects.create(request=request, author=None, text=f"Maintenance command: {command}")
    return request


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _name(user: AuthUser | None) -> str | None:
    return user.get_username() if user is not None else None
