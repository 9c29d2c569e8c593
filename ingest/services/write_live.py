"""Pushing each write's state change (armed, awaiting approval, confirmed, mismatched, failed, refused) to the pages
showing its machine, over the machine's live group (historian.services.live): the machine page's controls and its
list of last writes follow every write, whoever made it (a person on the page, the API, a rule).

ingest.services.writes calls `write_event_publish` with what it audits, so the page and the audit trail tell the same
story. Sent after the write's transaction commits; a push that fails is logged, never raised (the write is done and
audited whatever the push does). Refusals for want of permission are not pushed: they concern nobody on the page.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from django.db import transaction

from audit.models import AuditAction
from historian.models import Tag
from historian.services.live import live_publish, machine_live_group

logger = logging.getLogger(__name__)

WRITE_MESSAGE_TYPE = "write.changed"
_QUIET_RULES = frozenset({"permission", "token_scope", "unknown_tag"})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _ms(iso: Any) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        return round(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None


def write_event(*, action: str, tag: Tag, user: Any, details: dict[str, Any]) -> dict[str, Any] | None:
    """The page's view of one audited step of a write of `tag`, or None when it is not shown."""
    if action == AuditAction.PLC_WRITE_ARMED:
        state = "armed"
    elif action == AuditAction.PLC_WRITE_APPROVAL_ASKED:
        state = "awaiting_approval"
    elif action == AuditAction.PLC_WRITE:
        state = str(details.get("outcome") or "failed")  # confirmed, mismatched or failed
    elif action == AuditAction.PLC_WRITE_REFUSED:
        if details.get("rule") in _QUIET_RULES:
            return None
        state = "expired" if details.get("rule") == "expired" else "refused"
    else:
        return None
    username = user.get_username() if user is not None and getattr(user, "is_authenticated", False) else ""
    return {
        "tag": tag.pk,
        "request": details.get("request"),
        "state": state,
        "value": _number(details.get("requested")),
        "old_value": _number(details.get("old_value")),
        "read_back": _number(details.get("read_back")),
        "rule": details.get("rule") or "",
        "message": str(details.get("message") or details.get("error") or ""),
        "by": username,
        "via": details.get("via", ""),
        "requested_by": details.get("requested_by", ""),
        "expires": _ms(details.get("expires_at")),
    }


def write_event_publish(*, action: str, tag: Tag, user: Any, details: dict[str, Any]) -> None:
    """Send the write's new state to its machine's pages once the transaction commits. Never raises."""
    try:
        event = write_event(action=action, tag=tag, user=user, details=details)
        if event is None:
            return
        group = machine_live_group(tag.machine_id)
        message = {"type": WRITE_MESSAGE_TYPE, "machine": tag.machine_id, "write": event}
    except Exception:
        logger.exception("could not describe the write of tag %s for its pages", tag.pk)
        return

    def send() -> None:
        try:
            live_publish([(group, message)])
        except Exception:
            logger.exception("write live push failed for tag %s", tag.pk)

    transaction.on_commit(send, robust=True)
