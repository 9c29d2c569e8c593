"""Operator actions on alarms (acknowledge, shelve, out of service) and the timed ones (shelve expiry).

Each action locks the alarms it changes, applies the state machine, journals every transition with the user and
the comment, and pushes the change live after commit. Permissions are checked here as well as in the views and
the consumer: no caller can skip them.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from alarms import state_machine as sm
from alarms.models import Alarm, AlarmCategory, AlarmDefinition
from alarms.services.definitions import definition_from_model
from alarms.services.journal import journal_write
from alarms.services.transitions import RUNTIME_FIELDS, AlarmEvent, events_after_commit, runtime_of, step_apply

MAX_COMMENT_CHARS = 1000
PERM_VIEW = "alarms.view_alarm"
PERM_ACKNOWLEDGE = "alarms.acknowledge_alarm"
PERM_SHELVE = "alarms.shelve_alarm"
PERM_OUT_OF_SERVICE = "alarms.set_alarm_out_of_service"
PERM_VIEW_SECURITY = "alarms.view_security_alarms"


def may_see_security(user) -> bool:
    """Security alarms (and their evidence) are for holders of alarms.view_security_alarms only."""
    return user is not None and user.is_active and user.has_perm(PERM_VIEW_SECURITY)


class AlarmActionError(ValueError):
    """Bad input for an alarm action (the message says what to change)."""


@dataclass
class ActionResult:
    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    events: list[AlarmEvent] = field(default_factory=list)


def _check(user, permission: str) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise PermissionDenied(f"You lack the permission {permission!r}.")


def _clean_comment(comment: str) -> str:
    if not isinstance(comment, str):
        raise AlarmActionError("The comment must be text.")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise AlarmActionError(f"The comment is longer than {MAX_COMMENT_CHARS} characters.")
    return comment


def _apply_to_alarms(alarm_ids: Iterable[int], transition, *, now: datetime, user, comment: str) -> ActionResult:
    """Lock the alarms, apply `transition(runtime) -> Step` to each, save, journal, push after commit."""
    ids = sorted(set(alarm_ids))
    if not ids:
        raise AlarmActionError("Choose at least one alarm.")
    result = ActionResult()
    with transaction.atomic():
        visible = AlarmDefinition.objects.filter(pk__in=ids)
        if user is not None and not may_see_security(user):  # user None: the system (shelve expiry)
            visible = visible.filter(category=AlarmCategory.PROCESS)  # a hidden alarm is "no such alarm"
        defs = {d.pk: d for d in visible.select_related("tag__machine__line").order_by("pk")}
        Alarm.objects.bulk_create([Alarm(definition_id=i) for i in defs], ignore_conflicts=True)
        alarms = {a.pk: a for a in Alarm.objects.select_for_update().filter(pk__in=list(defs)).order_by("pk")}
        changed, entries = [], []
        for alarm_id in ids:
            if alarm_id not in defs:
                result.refused[alarm_id] = "no such alarm"
                continue
            alarm = alarms[alarm_id]
            try:
                step = transition(runtime_of(alarm))
            except sm.TransitionRefused as exc:
                result.refused[alarm_id] = str(exc)
                continue
            d = definition_from_model(defs[alarm_id])
            was_changed, new_entries, new_events = step_apply(
                alarm, d, step, now=now, value=None, user=user, comment=comment
            )
            if was_changed:
                changed.append(alarm)
                entries += new_entries
                result.events += new_events
            result.done.append(alarm_id)
        if changed:
            Alarm.objects.bulk_update(changed, RUNTIME_FIELDS)
            journal_write(entries=entries)
        events_after_commit(result.events)
    return result


def alarms_acknowledge(*, alarm_ids: Iterable[int], user, comment: str = "", now: datetime) -> ActionResult:
    _check(user, PERM_ACKNOWLEDGE)
    return _apply_to_alarms(alarm_ids, sm.acknowledge, now=now, user=user, comment=_clean_comment(comment))


def alarms_shelve(*, alarm_ids: Iterable[int], user, minutes: int, comment: str = "", now: datetime) -> ActionResult:
    _check(user, PERM_SHELVE)
    limit = settings.ALARMS_MAX_SHELVE_MINUTES
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= limit:
        raise AlarmActionError(f"Shelve for 1 to {limit} minutes.")
    until = now + timedelta(minutes=minutes)
    return _apply_to_alarms(
        alarm_ids, lambda rt: sm.shelve(rt, until=until, now=now), now=now, user=user, comment=_clean_comment(comment)
    )


def alarms_unshelve(*, alarm_ids: Iterable[int], user, comment: str = "", now: datetime) -> ActionResult:
    _check(user, PERM_SHELVE)
    return _apply_to_alarms(alarm_ids, sm.unshelve, now=now, user=user, comment=_clean_comment(comment))


def alarms_set_out_of_service(
    *, alarm_ids: Iterable[int], user, out_of_service: bool, comment: str = "", now: datetime
) -> ActionResult:
    _check(user, PERM_OUT_OF_SERVICE)
    return _apply_to_alarms(
        alarm_ids,
        lambda rt: sm.set_out_of_service(rt, out_of_service=out_of_service),
        now=now,
        user=user,
        comment=_clean_comment(comment),
    )


def alarm_shelves_expire(*, now: datetime) -> ActionResult:
    """Unshelve every alarm whose shelve ended (the system does it: no user, comment 'shelve expired')."""
    ids = list(Alarm.objects.filter(shelved_until__lte=now).values_list("pk", flat=True))
    if not ids:
        return ActionResult()

    def expire(rt: sm.Runtime) -> sm.Step:
        if rt.shelved_until is None or rt.shelved_until > now:
            raise sm.TransitionRefused("no longer due")  # changed by someone else meanwhile
        return sm.unshelve(rt)

    return _apply_to_alarms(ids, expire, now=now, user=None, comment="shelve expired")


def alarm_definition_disable(*, definition: AlarmDefinition, user, now: datetime) -> ActionResult:
    """A definition switched off in admin: its alarm leaves the list (journaled) instead of hanging there."""
    return _apply_to_alarms([definition.pk], sm.disable, now=now, user=user, comment="definition disabled")
