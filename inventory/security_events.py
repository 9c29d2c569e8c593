"""Security events: what the communication baseline noticed, handed to whoever raises alarms on it.

Detection lives where the evidence is (the Sparkplug host sees an unknown edge node, the OPC UA client sees a
weaker endpoint, the inventory sees a changed identity or certificate, sign-in sees a burst of failed logins); the
alarm system sits above all of them, so detectors report here and alarms receive the `security_event` signal
(connected in `AlarmsConfig.ready()`). `report_security_event` is synchronous and may touch the database through
its receivers: call it from a thread, not from inside an event loop (use `asyncio.to_thread` there).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models
from django.dispatch import Signal


class SecurityEventKind(models.TextChoices):
    UNKNOWN_EDGE_NODE = "unknown_edge_node", "Unknown Sparkplug edge node"
    UNKNOWN_EDGE_DEVICE = "unknown_edge_device", "Unknown Sparkplug device"
    UNEXPECTED_COMMAND = "unexpected_command", "Unexpected publisher on a command topic"
    IDENTITY_CHANGED = "identity_changed", "Device identity changed"
    CERTIFICATE_CHANGED = "certificate_changed", "Server certificate changed"
    WEAKER_ENDPOINT_SECURITY = "weaker_endpoint_security", "Endpoint offers weaker security"
    COMMUNICATION_CHANGED = "communication_changed", "Communication left its baseline"
    FAILED_LOGIN_BURST = "failed_login_burst", "Burst of failed logins"


@dataclass(frozen=True)
class SecurityEvent:
    """One observation that leaves the baseline.

    `subject` names what it is about, stable across repeats (e.g. "sparkplug:Plant A/Edge 2",
    "asset:17", "login:10.0.0.5"), so the same thing seen again updates one alarm instead of raising many.
    `evidence` holds the facts an investigator needs (JSON-serialisable: strings, numbers, lists, dicts).
    """

    kind: SecurityEventKind
    subject: str
    message: str
    at: datetime
    evidence: Mapping[str, object] = field(default_factory=dict)
    asset_id: int | None = None
    device_id: int | None = None


security_event = Signal()
"""Sent with `event=SecurityEvent` by `report_security_event`."""


def report_security_event(event: SecurityEvent) -> None:
    security_event.send(sender=SecurityEvent, event=event)
