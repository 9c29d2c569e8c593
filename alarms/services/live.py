"""Pushing alarm changes to every open browser (the alarm list and the banner on every page)."""

import logging
from collections.abc import Sequence

from alarms.queries.alarm_list import alarm_counts, alarm_rows
from alarms.services.transitions import AlarmEvent
from historian.services.live import live_publish

logger = logging.getLogger(__name__)

ALARMS_GROUP = "alarms"
ALARMS_MESSAGE_TYPE = "alarms.changed"


def alarms_changed_message(events: Sequence[AlarmEvent]) -> dict:
    ids = sorted({e.alarm_id for e in events})
    return {
        "type": ALARMS_MESSAGE_TYPE,
        "alarms": alarm_rows(ids=ids),
        "counts": alarm_counts(),
        "new": sorted({e.alarm_id for e in events if e.annunciated}),
    }


def alarms_publish(*, events: Sequence[AlarmEvent]) -> bool:
    """One message for the whole batch of changes. Never raises: the change is stored whatever the push does."""
    if not events:
        return False
    try:
        # The process's one publisher (a persistent loop), not async_to_sync's new loop and connections per call.
        return live_publish([(ALARMS_GROUP, alarms_changed_message(events))])
    except Exception:
        logger.exception("alarm live push failed")
        return False
