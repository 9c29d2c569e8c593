"""Applying state-machine steps to stored alarms: the runtime row, the journal entries and the events to push.

Shared by the evaluation (at ingest) and the operator actions, so both record transitions identically.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from alarms.models import Alarm, JournalEntry
from alarms.services.definitions import Definition
from alarms.state_machine import Event, Runtime, State, Step

RUNTIME_FIELDS = [
    "state",
    "condition",
    "pending_since",
    "clearing_since",
    "shelved_until",
    "suppressed",
    "out_of_service",
    "value",
    "message",
    "active_since",
    "changed_at",
    "acknowledged_at",
    "acknowledged_by",
]


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    alarm_id: int
    event: str
    before: str
    after: str
    time: datetime
    value: float | None
    priority: str
    area_id: int | None
    category: str = "process"

    @property
    def annunciated(self) -> bool:
        """The alarm (re)appeared in the operator's list as a new, unacknowledged alarm."""
        return self.after == State.UNACK_ACTIVE and self.before != State.UNACK_ACTIVE


def runtime_of(alarm: Alarm) -> Runtime:
    return Runtime(
        state=State(alarm.state),
        condition=alarm.condition,
        pending_since=alarm.pending_since,
        clearing_since=alarm.clearing_since,
        shelved_until=alarm.shelved_until,
        suppressed=alarm.suppressed,
        out_of_service=alarm.out_of_service,
    )


def format_number(value: float | None) -> str:
    if value is None:
        return "\u2013"  # en dash, as the pages show a missing value
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"


def render_message(d: Definition, *, value: float | None, setpoint: float | None = None) -> str:
    fields = {
        "value": format_number(value),
        "units": d.units,
        "limit": format_number(d.config.limit),
        "setpoint": format_number(setpoint),
        "tag": d.tag_path,
        "machine": d.machine_name,
        "name": d.name,
    }
    try:
        return d.message.format_map(fields)[:400]
    except (KeyError, ValueError, IndexError):  # validated in admin; a template from elsewhere still shows
        return d.message[:400]


def step_apply(
    alarm: Alarm,
    d: Definition,
    step: Step,
    *,
    now: datetime,
    value: float | None,
    user=None,
    comment: str = "",
    setpoint: float | None = None,
    message: str | None = None,
    evidence: dict | None = None,
) -> tuple[bool, list[JournalEntry], list[AlarmEvent]]:
    """Write `step` onto `alarm` (not saved); returns (changed, journal entries, events).

    `message` and `evidence`: a security alarm's own text and what its detector saw, instead of the definition's
    template; they go onto the alarm when it is raised or repeats, and onto each journal entry of the step.
    """
    before = runtime_of(alarm)
    rt = step.runtime
    changed = rt != before
    alarm.state = rt.state.value
    alarm.condition = rt.condition
    alarm.pending_since = rt.pending_since
    alarm.clearing_since = rt.clearing_since
    alarm.shelved_until = rt.shelved_until
    alarm.suppressed = rt.suppressed
    alarm.out_of_service = rt.out_of_service
    entries: list[JournalEntry] = []
    events: list[AlarmEvent] = []
    for t in step.transitions:
        changed = True
        alarm.changed_at = now
        if value is not None or t.event in (Event.ACTIVATE, Event.CLEAR):
            alarm.value = value
        rendered = message if message is not None else render_message(d, value=alarm.value, setpoint=setpoint)
        if t.after == State.UNACK_ACTIVE and t.before != State.UNACK_ACTIVE:
            alarm.active_since = now
            alarm.acknowledged_at = None
            alarm.acknowledged_by = None
            alarm.message = rendered[:400]
        elif t.event in (Event.ACTIVATE, Event.REPEAT):
            alarm.message = rendered[:400]
        if t.event == Event.ACKNOWLEDGE:
            alarm.acknowledged_at = now
            alarm.acknowledged_by = user
        entries.append(
            JournalEntry(
                time=now,
                alarm_id=d.id,
                event=t.event.value,
                state=t.after.value,
                previous_state=t.before.value,
                value=alarm.value,
                user=user,
                username=user.get_username() if user is not None else "",
                comment=comment,
                priority=d.priority,
                alarm_name=d.name,
                tag_path=d.tag_path,
                message=alarm.message,
                area_id=d.area_id,
                line_id=d.line_id,
                machine_id=d.machine_id,
                category=d.category,
                evidence=evidence if t.event in (Event.ACTIVATE, Event.REPEAT) else None,
            )
        )
        events.append(
            AlarmEvent(
                d.id,
                t.event.value,
                t.before.value,
                t.after.value,
                now,
                alarm.value,
                d.priority,
                d.area_id,
                d.category,
            )
        )
    return changed, entries, events


def events_after_commit(events: Sequence[AlarmEvent]) -> None:
    """Once the transaction commits: push the changes to the browsers and send the notifications."""
    if not events:
        return
    from alarms.services.live import alarms_publish
    from alarms.services.notifications import notifications_dispatch

    events = list(events)

    def run() -> None:
        alarms_publish(events=events)
        notifications_dispatch(events=[e for e in events if e.annunciated])

    transaction.on_commit(run)
