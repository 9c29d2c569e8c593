"""From a health score to a maintenance alert: once per life of the machine (until a request closes as done).

Whether an alert is due is maintenance.health.alerting's decision (`assess`: the RUL interval's lower bound inside
the planning horizon, or the corroborated score held above `score_high` for `score_high_minutes`). Raising it: the
model is claimed with a conditional UPDATE (one alert, whichever writer of values gets there first), the alert
tag's definition takes the explanation as its message, the caller writes 1 to the alert tag (the alarm is raised
by the ordinary evaluation, ISA-18.2, notified over the alarm routes) and a work request is opened by the health
monitor with the evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from alarms.models import AlarmDefinition
from maintenance.models import HealthModel, MaintenanceRequest
from maintenance.services.health_tags import ALERT_DEFINITION_NAME
from maintenance.services.requests import request_open

MESSAGE_MAX = 300


def alert_raise(
    *, model: HealthModel, reasons: list[str], explanation: str, evidence: dict[str, Any], at: datetime
) -> MaintenanceRequest | None:
    """Claim the alert and open its work request; None when the model had already alerted (nothing done)."""
    with transaction.atomic():
        claimed = HealthModel.objects.filter(pk=model.pk, alerted_at__isnull=True).update(alerted_at=at)
        if not claimed:
            return None
        why = "; ".join(reasons)
        message = f"{{machine}}: {model.component} maintenance due, {why}; {explanation}"
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
            title=f"{model.component.capitalize()}: {why}"[:200],
            evidence={**evidence, "explanation": explanation, "reasons": reasons},
            by_monitor=True,
        )
    model.alerted_at = at
    return request


def _braces_kept(message: str) -> str:
    """The definition's message is a template ({machine} ...): literal braces from the explanation are doubled."""
    head, rest = message.split("}", 1)
    return head + "}" + rest.replace("{", "{{").replace("}", "}}")
