"""Security alarms: the alarm side of inventory.security_events.

A detector (Sparkplug host, OPC UA client, inventory, sign-in) reports a SecurityEvent; the receiver connected in
AlarmsConfig.ready() calls `security_alarm_raise`. One alarm per source (the event's kind and subject): its
definition is made on first sight (tagless, category security, kind security; an administrator may rename,
reprioritise or disable it in admin), and each occurrence goes through the state machine's `raise_event`: raised
(annunciated, then returned to normal at once, waiting for acknowledgement); seen again while unacknowledged, one
REPEAT that updates the evidence and the repeat count; seen again after the acknowledgement, raised anew. The
evidence goes onto the alarm (its latest) and onto the journal entries (every occurrence's). Changes are pushed
live and routed to security notification routes like any alarm's (transitions.events_after_commit).
"""

import hashlib
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction

from alarms import state_machine as sm
from alarms.models import Alarm, AlarmCategory, AlarmDefinition, AlarmKind, Priority
from alarms.services.definitions import definition_from_model
from alarms.services.journal import journal_write
from alarms.services.transitions import RUNTIME_FIELDS, AlarmEvent, events_after_commit, runtime_of, step_apply
from inventory.security_events import SecurityEvent, SecurityEventKind

logger = logging.getLogger(__name__)

#: The priority a new security alarm gets (an administrator may change it on its definition).
SECURITY_PRIORITY: dict[str, str] = {
    SecurityEventKind.UNEXPECTED_COMMAND: Priority.CRITICAL,
    SecurityEventKind.CERTIFICATE_CHANGED: Priority.HIGH,
    SecurityEventKind.IDENTITY_CHANGED: Priority.HIGH,
    SecurityEventKind.UNKNOWN_EDGE_NODE: Priority.HIGH,
    SecurityEventKind.WEAKER_ENDPOINT_SECURITY: Priority.HIGH,
    SecurityEventKind.FAILED_LOGIN_BURST: Priority.HIGH,
    SecurityEventKind.UNKNOWN_EDGE_DEVICE: Priority.MEDIUM,
    SecurityEventKind.COMMUNICATION_CHANGED: Priority.MEDIUM,
}
#: Evidence larger than this (as JSON) is kept as its first characters, marked truncated.
MAX_EVIDENCE_CHARS = 32_000
_SOURCE_CHARS = 300


def security_source(event: SecurityEvent) -> str:
    """The alarm's unique key: kind and subject (a subject too long for the column is kept as its hash)."""
    source = f"{SecurityEventKind(event.kind).value}:{event.subject}"
    if len(source) <= _SOURCE_CHARS:
        return source
    digest = hashlib.sha256(event.subject.encode()).hexdigest()
    return f"{SecurityEventKind(event.kind).value}:sha256:{digest}"


def _evidence(event: SecurityEvent) -> dict[str, Any]:
    """What the detector saw, with what it was about, as plain JSON (anything else as its text)."""
    data = {
        "kind": SecurityEventKind(event.kind).value,
        "subject": event.subject,
        "at": event.at.isoformat(),
        "asset_id": event.asset_id,
        "device_id": event.device_id,
        "evidence": dict(event.evidence),
    }
    text = json.dumps(data, default=str, sort_keys=True)
    if len(text) > MAX_EVIDENCE_CHARS:
        return {
            **{k: v for k, v in data.items() if k != "evidence"},
            "truncated": True,
            "text": text[:MAX_EVIDENCE_CHARS],
        }
    return json.loads(text)


def _definition(event: SecurityEvent) -> AlarmDefinition:
    source = security_source(event)
    kind = SecurityEventKind(event.kind)
    defaults = {
        "name": f"{kind.label}: {event.subject}"[:100],
        "kind": AlarmKind.SECURITY,
        "priority": SECURITY_PRIORITY.get(kind, Priority.HIGH),
        "message": kind.label,
        "description": "Raised by a security detector (inventory.security_events).",
    }
    try:
        with transaction.atomic():
            definition, _ = AlarmDefinition.objects.get_or_create(
                category=AlarmCategory.SECURITY, source=source, defaults=defaults
            )
    except IntegrityError:  # another process made it between our read and our insert
        definition = AlarmDefinition.objects.get(category=AlarmCategory.SECURITY, source=source)
    return definition


def security_alarm_raise(*, event: SecurityEvent) -> list[AlarmEvent]:
    """Raise (or repeat) the security alarm of `event`; returns the transitions (pushed and routed after commit).

    A disabled definition raises nothing (an administrator switched that source's alarm off)."""
    definition = _definition(event)
    if not definition.enabled:
        return []
    evidence = _evidence(event)
    with transaction.atomic():
        Alarm.objects.bulk_create([Alarm(definition_id=definition.pk)], ignore_conflicts=True)
        alarm = Alarm.objects.select_for_update().get(pk=definition.pk)
        d = definition_from_model(definition)
        step = sm.raise_event(d.config, runtime_of(alarm))
        _, entries, events = step_apply(
            alarm, d, step, now=event.at, value=None, message=event.message, evidence=evidence
        )
        repeated = any(t.event is sm.Event.REPEAT for t in step.transitions)
        alarm.repeat_count = alarm.repeat_count + 1 if repeated else 0
        alarm.evidence = evidence
        alarm.last_seen = event.at
        alarm.save(update_fields=[*RUNTIME_FIELDS, "evidence", "repeat_count", "last_seen"])
        journal_write(entries=entries)
        events_after_commit(events)
    return events


def security_event_received(sender: Any, event: SecurityEvent, **kwargs: Any) -> None:
    """The `security_event` receiver: never raises into the detector (which may be acquisition or sign-in)."""
    try:
        security_alarm_raise(event=event)
    except Exception:
        logger.exception("security alarm for %s %s could not be raised", event.kind, event.subject)
