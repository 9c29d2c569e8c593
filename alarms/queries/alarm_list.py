"""Reads for the live alarm list and the banner."""

from collections.abc import Iterable

from django.db.models import Q

from alarms.models import PRIORITY_RANK, Alarm, AlarmState, Priority
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
    machine = tag.machine
    state = display_state(alarm)
    return {
        "id": d.pk,
        "name": d.name,
        "tag": tag.path,
        "machine": machine.name,
        "machine_id": machine.pk,
        "line": machine.line.name,
        "line_id": machine.line_id,
        "area": machine.line.area.name,
        "area_id": machine.line.area_id,
        "priority": d.priority,
        "rank": PRIORITY_RANK[Priority(d.priority)],
        "state": state.value,
        "state_label": AlarmState(state.value).label,
        "listed": d.enabled
        and (state in ANNUNCIATED or state in (State.SHELVED, State.SUPPRESSED, State.OUT_OF_SERVICE)),
        "unacknowledged": state in UNACKNOWLEDGED,
        "condition": alarm.condition,
        "message": alarm.message or d.name,
        "value": alarm.value,
        "units": tag.units,
        "active_since": _epoch_ms(alarm.active_since),
        "changed_at": _epoch_ms(alarm.changed_at),
        "acknowledged_by": alarm.acknowledged_by.get_username() if alarm.acknowledged_by else None,
        "acknowledged_at": _epoch_ms(alarm.acknowledged_at),
        "shelved_until": _epoch_ms(alarm.shelved_until),
    }


def _with_relations(qs):
    return qs.select_related("definition__tag__machine__line__area", "acknowledged_by")


def alarm_rows(*, ids: Iterable[int] | None = None) -> list[dict]:
    """Rows for the live list: the listed alarms, or exactly `ids` (listed or not, so a browser can drop them)."""
    if ids is not None:
        qs = Alarm.objects.filter(pk__in=list(ids))
    else:
        qs = Alarm.objects.filter(_LISTED, definition__enabled=True)
    return [alarm_row(a) for a in _with_relations(qs).order_by("pk")]


def alarm_counts() -> dict:
    """For the banner: annunciated and unacknowledged alarms per priority, hidden ones in total (one query)."""
    counts = {
        "active": dict.fromkeys(Priority.values, 0),
        "unacknowledged": dict.fromkeys(Priority.values, 0),
        "shelved": 0,
        "suppressed": 0,
        "out_of_service": 0,
    }
    rows = (
        Alarm.objects.filter(definition__enabled=True)
        .filter(_LISTED)
        .values_list("definition__priority", "state", "shelved_until", "suppressed", "out_of_service")
    )
    for priority, state, shelved_until, suppressed, out_of_service in rows:
        shown = Runtime(
            state=State(state), shelved_until=shelved_until, suppressed=suppressed, out_of_service=out_of_service
        ).display_state
        if shown in ANNUNCIATED:
            counts["active"][priority] += 1
            if shown in UNACKNOWLEDGED:
                counts["unacknowledged"][priority] += 1
        else:
            counts[shown.value] += 1
    counts["total"] = sum(counts["active"].values())
    counts["total_unacknowledged"] = sum(counts["unacknowledged"].values())
    return counts
