"""Pushing alarm changes to every open browser (the alarm list and the banner on every page).

Two groups: ALARMS_GROUP hears process alarms only; SECURITY_ALARMS_GROUP, joined instead by holders of
alarms.view_security_alarms, hears every alarm with the counts that include security alarms. A change of a
security alarm alone is not sent to ALARMS_GROUP at all.
"""

import logging
from collections.abc import Sequence

from alarms.models import AlarmCategory
from alarms.queries.alarm_list import alarm_counts, alarm_rows
from alarms.services.transitions import AlarmEvent
from historian.services.live import live_publish

logger = logging.getLogger(__name__)

ALARMS_GROUP = "alarms"
SECURITY_ALARMS_GROUP = "alarms.security"
ALARMS_MESSAGE_TYPE = "alarms.changed"


def alarms_group(*, security: bool) -> str:
    """The group a browser joins: with security alarms or without."""
    return SECURITY_ALARMS_GROUP if security else ALARMS_GROUP


def alarms_changed_message(events: Sequence[AlarmEvent], *, security: bool = False) -> dict:
    shown = [e for e in events if security or e.category != AlarmCategory.SECURITY]
    return {
        "type": ALARMS_MESSAGE_TYPE,
        "alarms": alarm_rows(ids=sorted({e.alarm_id for e in shown}), security=security),
        "counts": alarm_counts(security=security),
        "new": sorted({e.alarm_id for e in shown if e.annunciated}),
    }


def alarms_publish(*, events: Sequence[AlarmEvent]) -> bool:
    """One message for the whole batch of changes. Never raises: the change is stored whatever the push does."""
    if not events:
        return False
    try:
        # The process's one publisher (a persistent loop), not async_to_sync's new loop and connections per call.
        messages = [(SECURITY_ALARMS_GROUP, alarms_changed_message(events, security=True))]
        if any(e.category != AlarmCategory.SECURITY for e in events):
            messages.append((ALARMS_GROUP, alarms_changed_message(events, security=False)))
        return live_publish(messages)
    except Exception:
        logger.exception("alarm live push failed")
        return False
