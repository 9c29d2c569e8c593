"""From a health score to a maintenance alert: once per life of the machine (until a request closes as done).

The alert is raised when the RUL interval's lower bound falls inside the model's planning horizon, or when the
score stays at or above `score_high` for `score_high_minutes`. Raising it: the model is claimed with a conditional
UPDATE (one alert, whichever writer of values gets there first), the alert tag's definition takes the explanation
as its message, the caller writes 1 to the alert tag (the alarm is raised by the ordinary evaluation, ISA-18.2,
notified over the alarm routes) and a work request is opened by the health monitor with the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from alarms.models import AlarmDefinition
from maintenance.models import HealthModel, MaintenanceRequest
from maintenance.services.health_tags import ALERT_DEFINITION_NAME
from maintenance.services.requests import request_open

MESSAGE_MAX = 300


@dataclass(frozen=True)
class AlertReason:
    why: str  # "rul" or "score_high"
    text: str  # for people: "RUL 5.2 h (90 %: 3.1-9.8 h) inside the 24 h planning horizon"


def alert_due(
    *,
    model: HealthModel,
    high_for_minutes: float,
    rul_low_h: float | None,
    rul_median_h: float | None,
    rul_high_h: float | None,
) -> AlertReason | None:
    """Whether the model's rules ask for maintenance now."""
    if rul_low_h is not None and rul_low_h <= model.planning_horizon_hours:
        high = "∞" if rul_high_h is None else f"{rul_high_h:.1f}"
        return AlertReason(
            "rul",
            f"failure in {rul_median_h:.1f} h, 90 % between {rul_low_h:.1f} and {high} h "
            f"(inside the {model.planning_horizon_hours:g} h planning horizon)",
        )
    if high_for_minutes >= model.score_high_minutes:
        return AlertReason("score_high", f"health score above {model.score_high:g} for {high_for_minutes:.0f} min")
    return None


def alert_raise(
    *, model: HealthModel, reason: AlertReason, explanation: str, evidence: dict[str, Any], at: datetime
) -> MaintenanceRequest | None:
    """Claim the alert and open its work request; None when the model had already alerted (nothing done)."""
    with transaction.atomic():
        claimed = HealthModel.objects.filter(pk=model.pk, alerted_at__isnull=True).update(alerted_at=at)
        if not claimed:
            return None
        message = f"{{machine}}: {model.component} maintenance due, {reason.text}; {explanation}"
        AlarmDefinition.objects.filter(tag=model.alert_tag, name=ALERT_DEFINITION_NAME).update(
            message=_braces_kept(message)[:MESSAGE_MAX]
        )
        # .update() sends no post_save: invalidate the definitions' cache as the alarms' signals do.
        from alarms.services.definitions import definitions_invalidate

        definitions_invalidate()
        transaction.on_commit(definitions_invalidate)
        request = request_open(
            machine=model.machine,
            component=model.component,
            title=f"{model.component.capitalize()}: {reason.text}"[:200],
            evidence={**evidence, "explanation": explanation, "reason": reason.why, "reason_text": reason.text},
            by_monitor=True,
        )
    model.alerted_at = at
    return request


def _braces_kept(message: str) -> str:
    """The definition's message is a template ({machine} ...): literal braces from the explanation are doubled."""
    head, rest = message.split("}", 1)
    return head + "}" + rest.replace("{", "{{").replace("}", "}}")
