"""Downtime work from the floor: classify a stop, comment it, split it in two. Every change is audited (who,
before and after) and announced to the line's downtime pages.

What an operator says is kept twice: on the interval (what every reader sees) and in StopClassification /
StopSplit, keyed by machine and instant, which the derivation applies again whenever it derives the stretch anew
(production.services.intervals), so late values and a rebuild keep it.

Who: holders of production.classify_downtime_any_area everywhere; holders of production.classify_downtime in the
areas granted to them or to one of their groups (DowntimeArea). Operators of line 1's area cannot classify line 2's.
Each action locks the machine's MachineProduction row, as the derivation does, so the two never interleave.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Machine
from production.models import (
    DowntimeArea,
    DowntimeReason,
    MachineProduction,
    MachineState,
    StateInterval,
    StopClassification,
    StopSplit,
)
from production.services.live import downtime_changed_publish

PERM_CLASSIFY = "production.classify_downtime"
PERM_CLASSIFY_ANY_AREA = "production.classify_downtime_any_area"
MAX_COMMENT_CHARS = 2000

User = AuthUser | AnonymousUser


class DowntimeError(ValueError):
    """A downtime action that cannot be carried out as asked (the message says why, for the operator)."""


class StopOverlapError(DowntimeError):
    """A hand-made interval would overlap another of the same machine (the database's exclusion constraint)."""


def downtime_may_classify(*, user: User | None, area_id: int) -> bool:
    """May `user` classify, comment and split stops of machines in the area?"""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(PERM_CLASSIFY_ANY_AREA):
        return True
    if not user.has_perm(PERM_CLASSIFY):
        return False
    return DowntimeArea.grants(user, area_id)


def _stop_lock(*, interval_id: int, user: User | None) -> StateInterval:
    """The stop, locked with its machine (in the caller's transaction), once the user may work on it."""
    machine_id = StateInterval.objects.filter(pk=interval_id).values_list("machine_id", flat=True).first()
    if machine_id is None:
        raise DowntimeError("That stop no longer exists (it was derived again from history): reload the list.")
    list(MachineProduction.objects.select_for_update().filter(machine_id=machine_id).values_list("pk"))
    interval = (
        StateInterval.objects.select_for_update(of=("self",))
        .select_related("machine__line__area", "reason__category", "auto_reason__category")
        .filter(pk=interval_id)
        .first()
    )
    if interval is None:
        raise DowntimeError("That stop no longer exists (it was derived again from history): reload the list.")
    if not downtime_may_classify(user=user, area_id=interval.machine.line.area_id):
        raise PermissionError(f"You may not classify stops in {interval.machine.line.area.name}.")
    if interval.state == MachineState.RUNNING:
        raise DowntimeError("The machine was running then: only stops are classified.")
    return interval


def _said(interval: StateInterval) -> dict:
    """What the audit trail keeps of a stop, before and after."""
    return {
        "reason": str(interval.reason) if interval.reason_id is not None else None,
        "reason_id": interval.reason_id,
        "automatic": interval.auto_classified,
        "comment": interval.comment,
    }


def _target(interval: StateInterval) -> str:
    return f"{interval.machine.line.name} / {interval.machine.name} stop from {interval.start.isoformat()}"


def _record_save(interval: StateInterval) -> None:
    StopClassification.objects.update_or_create(
        machine_id=interval.machine_id,
        start=interval.start,
        defaults={
            "reason_id": interval.reason_id if not interval.auto_classified else None,
            "comment": interval.comment,
            "classified_by_id": interval.classified_by_id,
            "classified_at": interval.classified_at,
        },
    )


def _said_changed(
    interval: StateInterval,
    *,
    before: dict,
    action: AuditAction,
    user: User | None,
    remote_addr: str | None,
    **details: Any,
) -> None:
    """After an operator changed what is said of a stop (saved): keep it for the next derivation, audit it (what was
    said before and after, with `details`), and tell the live pages."""
    _record_save(interval)
    audit_record(
        actor=user,
        action=action,
        target=_target(interval),
        details={
            "interval": interval.pk,
            "machine": interval.machine_id,
            **details,
            "before": before,
            "after": _said(interval),
        },
        remote_addr=remote_addr,
    )
    downtime_changed_publish(machine_id=interval.machine_id, since=interval.start)


def _user_id(user: User | None) -> int | None:
    return user.pk if user is not None and user.is_authenticated else None


def stop_classify(
    *,
    interval_id: int,
    reason_id: int | None,
    user: User | None,
    remote_addr: str | None = None,
    at: datetime | None = None,
) -> StateInterval:
    """Give the stop a reason from its site's tree; None puts the automatic one (from a fault code) back. An
    automatic reason overridden stays on the interval (auto_reason) for everyone to see."""
    at = at or timezone.now()
    with transaction.atomic():
        interval = _stop_lock(interval_id=interval_id, user=user)
        before = _said(interval)
        if reason_id is None:
            interval.reason = interval.auto_reason
            interval.auto_classified = interval.auto_reason_id is not None
        else:
            reason = DowntimeReason.objects.select_related("category").filter(pk=reason_id).first()
            if reason is None or reason.category.site_id != interval.machine.line.area.site_id:
                raise DowntimeError("Choose a reason of this site's downtime reasons.")
            interval.reason, interval.auto_classified = reason, False
        interval.classified_by_id, interval.classified_at = _user_id(user), at
        interval.save(update_fields=["reason", "auto_classified", "classified_by", "classified_at"])
        _said_changed(
            interval,
            before=before,
            action=AuditAction.DOWNTIME_CLASSIFY,
            user=user,
            remote_addr=remote_addr,
            auto_reason=str(interval.auto_reason) if interval.auto_reason_id is not None else None,
        )
    return interval


def stop_comment(*, interval_id: int, comment: str, user: User | None, remote_addr: str | None = None) -> StateInterval:
    """Set the stop's comment (blank clears it)."""
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise DowntimeError(f"The comment is {len(comment)} characters long; {MAX_COMMENT_CHARS} at most.")
    with transaction.atomic():
        interval = _stop_lock(interval_id=interval_id, user=user)
        before = _said(interval)
        interval.comment = comment
        interval.save(update_fields=["comment"])
        _said_changed(interval, before=before, action=AuditAction.DOWNTIME_COMMENT, user=user, remote_addr=remote_addr)
    return interval


def stop_split(
    *,
    interval_id: int,
    at: datetime,
    user: User | None,
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> tuple[StateInterval, StateInterval]:
    """Split the stop in two at `at` (strictly inside it, and not in the future). The first part keeps what was
    said of the stop; the second starts with the automatic reason alone, to be classified on its own."""
    now = now or timezone.now()
    with transaction.atomic():
        first = _stop_lock(interval_id=interval_id, user=user)
        end = first.end if first.end is not None else now
        if not first.start < at < end:
            raise DowntimeError(
                f"Split inside the stop: after {first.start.isoformat()} and before "
                f"{end.isoformat()}{' (now)' if first.end is None else ''}."
            )
        second = StateInterval(
            machine_id=first.machine_id,
            start=at,
            end=first.end,
            state=first.state,
            product_id=first.product_id,
            auto_reason_id=first.auto_reason_id,
            reason_id=first.auto_reason_id,
            auto_classified=first.auto_reason_id is not None,
        )
        before = {"start": first.start.isoformat(), "end": first.end.isoformat() if first.end else None}
        first.end = at
        first.save(update_fields=["end"])
        state_interval_save(second)
        StopSplit.objects.get_or_create(machine_id=first.machine_id, at=at, defaults={"created_by_id": _user_id(user)})
        audit_record(
            actor=user,
            action=AuditAction.DOWNTIME_SPLIT,
            target=_target(first),
            details={
                "interval": first.pk,
                "new_interval": second.pk,
                "machine": first.machine_id,
                "at": at.isoformat(),
                "before": before,
                "after": [
                    {"start": first.start.isoformat(), "end": at.isoformat()},
                    {"start": at.isoformat(), "end": second.end.isoformat() if second.end else None},
                ],
            },
            remote_addr=remote_addr,
        )
        downtime_changed_publish(machine_id=first.machine_id, since=first.start)
    return first, second


def state_interval_save(interval: StateInterval) -> StateInterval:
    """Write a hand-made interval; one overlapping another of its machine is refused with a StopOverlapError that
    names the interval it overlaps (the database's exclusion constraint decides, inside a savepoint)."""
    try:
        with transaction.atomic():
            interval.save()
    except IntegrityError as exc:
        if "state_interval_no_overlap" not in str(exc):
            raise
        overlapped = (
            StateInterval.objects.filter(machine_id=interval.machine_id)
            .exclude(pk=interval.pk)
            .filter(Q(end__isnull=True) | Q(end__gt=interval.start))
        )
        if interval.end is not None:
            overlapped = overlapped.filter(start__lt=interval.end)
        other = overlapped.order_by("start").first()
        machine = Machine.objects.filter(pk=interval.machine_id).values_list("name", flat=True).first()
        what = (
            f"the {other.get_state_display().lower()} interval from {other.start.isoformat()} to "
            f"{other.end.isoformat() if other.end else 'now (open)'} (#{other.pk})"
            if other is not None
            else "another interval"
        )
        raise StopOverlapError(
            f"{machine}: the interval from {interval.start.isoformat()} to "
            f"{interval.end.isoformat() if interval.end else 'now'} overlaps {what}; intervals of one machine may not "
            "overlap."
        ) from exc
    return interval
