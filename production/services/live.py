"""Pushing stops to the downtime pages over the Channels layer (historian.services.live's one publisher).

One group per line (a page shows one line's stops). A message carries the stops of one machine that end at or
after `since` (or are still open), as production.queries.intervals.stop_rows gives them: the page replaces that
machine's rows from `since` on with them, so new, closed, classified, split and derived-again stops all show
without a reload.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from historian.models import Machine
from historian.services.live import live_publish

logger = logging.getLogger(__name__)

DOWNTIME_MESSAGE_TYPE = "downtime.changed"


def downtime_line_group(line_id: int) -> str:
    return f"downtime.line.{line_id}"


def downtime_changed_message(*, machine_id: int, since: datetime, now: datetime | None = None) -> tuple[str, dict]:
    from production.queries.intervals import machine_stops_since

    line_id = Machine.objects.values_list("line_id", flat=True).get(pk=machine_id)
    return downtime_line_group(line_id), {
        "type": DOWNTIME_MESSAGE_TYPE,
        "line": line_id,
        "machine": machine_id,
        "since": round(since.timestamp() * 1000),
        "stops": machine_stops_since(machine_id=machine_id, since=since, now=now),
    }


def downtime_changed_publish(*, machine_id: int, since: datetime, resync: bool = False) -> None:
    """Tell the line's downtime pages, once the transaction commits. Never raises: the intervals are stored
    whatever the push does. `resync`: the page had better ask for a fresh list (a rebuild)."""
    downtime_changes_publish(changes={machine_id: since}, resync=resync)


def downtime_changes_publish(*, changes: dict[int, datetime], resync: bool = False) -> None:
    """downtime_changed_publish for several machines (machine id -> since) in one push: the derivation hook
    announces a batch's machines together, one round trip to the channel layer."""
    if not changes:
        return

    def publish() -> None:
        try:
            messages = []
            for machine_id, since in changes.items():
                group, message = downtime_changed_message(machine_id=machine_id, since=since)
                message["resync"] = resync
                messages.append((group, message))
            live_publish(messages)
        except Exception:
            logger.exception("downtime live push failed for machines %s", sorted(changes))

    transaction.on_commit(publish)
