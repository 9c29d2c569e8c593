"""Reads for the live alarm list and the banner.

Security alarms (no tag, no place in the plant, evidence attached) are read only when the caller says the reader
may see them (`security=True`: alarms.view_security_alarms, checked by the view, consumer or API that asks).
"""

from collections.abc import Iterable

from django.db.models import Q

from alarms.models import PRIORITY_RANK, Alarm, AlarmCategory, AlarmState, Priority
from alarms.state_machine import ANNUNCIATED, UNACKNOWLEDGED, Runtime, State

# In the list: annunciated alarms, and the hidden ones (shown under their own state filter).
_LISTED = (
    Q(state__in=[s.value for s in ANNUNCIATED])
    | Q(shelved_until__isnull=False)
    | Q(suppressed=True)
    | Q(out_of_service=True)
)


def _epoch_ms(moment) -> int | None:
    return round(moment.timestamp() * 1000) if moment else None


def display_state(alarm: Alarm) -> State:
    return Runtime(
        state=State(alarm.state),
        shelved_until=alarm.shelved_until,
        suppressed=alarm.suppressed,
        out_of_service=alarm.out_of_service,
    ).display_state


def alarm_row(alarm: Alarm) -> dict:
    d = alarm.definition
    tag = d.tag
    machine = tag.machine if tag is not None else None
    security = d.category == AlarmCategory.SECURITY
    state = display_state(alarm)
    return {
        "id": d.pk,
        "name": d.name,
        "category": d.category,
        "source": d.source,
        "tag": tag.path if tag is not None else "",
        "tag_id": tag.pk if tag is not None else None,
        "machine": machine.name if machine is not None else "",
        "machine_id": machine.pk if machine is not None else None,
        "line": machine.line.name if machine is not None else "",
        "line_id": machine.line_id if machine is not None else None,
        "area": machine.line.area.name if machine is not None else "",
        "area_id": machine.line.area_id if machine is not None else None,
        "priority": d.priority,
        "rank": PRIORITY_RANK[Priority(d.priority)],
        "state": state.value,
        "state_label": str(AlarmState(state.value).label),
        "listed": d.enabled
        and (state in ANNUNCIATED or state in (State.SHELVED, State.SUPPRESSED, State.OUT_OF_SERVICE)),
        "unacknowledged": state in UNACKNOWLEDGED,
        "condition": alarm.condition,
        "message": alarm.message or d.name,
        "value": alarm.value,
        "units": tag.units if tag is not None else "",
        "active_since": _epoch_ms(alarm.active_since),
        "changed_at": _epoch_ms(alarm.changed_at),
        "acknowledged_by": alarm.acknowledged_by.get_username() if alarm.acknowledged_by else None,
        "acknowledged_at": _epoch_ms(alarm.acknowledged_at),
        "shelved_until": _epoch_ms(alarm.shelved_until),
        # Security alarms: what the detector saw (data, shown as text: never HTML), and how often it came back.
        "evidence": alarm.evidence if security else None,
        "repeat_count": alarm.repeat_count if security else 0,
        "last_seen": _epoch_ms(alarm.last_seen) if security else None,
    }


def _with_relations(qs):
    return qs.select_related("definition__tag__machine__line__area", "acknowledged_by")


def _visible(qs, *, security: bool):
    return qs if security else qs.filter(definition__category=AlarmCategory.PROCESS)


def alarm_rows(*, ids: Iterable[int] | None = None, security: bool = False) -> list[dict]:
    """Rows for the live list: the listed alarms, or exactly `ids` (listed or not, so a browser can drop them).

    Security alarms only with `security=True` (the reader holds alarms.view_security_alarms)."""
    if ids is not None:
        qs = Alarm.objects.filter(pk__in=list(ids))
    else:
        qs = Alarm.objects.filter(_LISTED, definition__enabled=True)
    return [alarm_row(a) for a in _with_relations(_visible(qs, security=security)).order_by("pk")]


def alarm_visible(*, alarm_id: int, security: bool) -> bool:
    """Whether a reader (who may see security alarms or not) may see this alarm at all."""
    return _visible(Alarm.objects.filter(pk=alarm_id), security=security).exists()


def alarm_detail(*, alarm_id: int, security: bool) -> dict | None:
    """One alarm's row (with its evidence), or None when it does not exist or the reader may not see it."""
    rows = alarm_rows(ids=[alarm_id], security=security)
    return rows[0] if rows else None


def alarm_counts(*, security: bool = False) -> dict:
    """For the banner: annunciated and unacknowledged alarms per priority, hidden ones in total (one query).

    Security alarms are counted only with `security=True`, and also on their own (`security`: in the list,
    `security_unacknowledged`), so the banner can say how many of them wait."""
    active = dict.fromkeys(Priority.values, 0)
    unacknowledged = dict.fromkeys(Priority.values, 0)
    hidden = {"shelved": 0, "suppressed": 0, "out_of_service": 0}
    security_count = security_unacknowledged = 0
    rows = _visible(Alarm.objects.filter(definition__enabled=True).filter(_LISTED), security=security).values_list(
        "definition__priority", "state", "shelved_until", "suppressed", "out_of_service", "definition__category"
    )
    for priority, state, shelved_until, suppressed, out_of_service, category in rows:
        shown = Runtime(
            state=State(state), shelved_until=shelved_until, suppressed=suppressed, out_of_service=out_of_service
        ).display_state
        if shown in ANNUNCIATED:
            active[priority] += 1
            if shown in UNACKNOWLEDGED:
                unacknowledged[priority] += 1
            if category == AlarmCategory.SECURITY:
                security_count += 1
                security_unacknowledged += shown in UNACKNOWLEDGED
        else:
            hidden[shown.value] += 1
    return {
        "active": active,
        "unacknowledged": unacknowledged,
        **hidden,
        "security": security_count,
        "security_unacknowledged": security_unacknowledged,
        "total": sum(active.values()),
        "total_unacknowledged": sum(unacknowledged.values()),
    }
