"""Detector: a burst of failed logins, per source address and per user name, in a sliding window.

Counted from the audit trail (every failed login is an AuditEvent, whichever process served it), when each failed
login's audit row is written (post_save, connected in AlarmsConfig.ready()): sign-in sits below alarms and the
inventory, so it cannot report a security event itself. At SECURITY_FAILED_LOGIN_BURST_COUNT failures within
SECURITY_FAILED_LOGIN_BURST_WINDOW_SECONDS a FAILED_LOGIN_BURST event is reported for that address (evidence: the
user names tried, with counts) or user name (evidence: the addresses, with counts), and again at every further
multiple of the count while the burst goes on, so an attack of thousands of tries updates one alarm a few times
instead of journaling each try.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from audit.models import AuditAction, AuditEvent
from audit.queries import failed_logins_by
from inventory.security_events import SecurityEvent, SecurityEventKind, report_security_event

logger = logging.getLogger(__name__)

#: At most this many user names or addresses in the evidence (the most frequent first).
MAX_LISTED = 50


def _due(total: int, threshold: int) -> bool:
    return total >= threshold and (total - threshold) % threshold == 0


def _top(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LISTED])


def failed_login_burst_check(*, failure: AuditEvent) -> list[SecurityEvent]:
    """After one failed login (its audit row): report the bursts it completes; returns what was reported."""
    threshold = max(1, int(settings.SECURITY_FAILED_LOGIN_BURST_COUNT))
    window_seconds = float(settings.SECURITY_FAILED_LOGIN_BURST_WINDOW_SECONDS)
    at = failure.timestamp
    since = at - timedelta(seconds=window_seconds)
    common = {"window_seconds": window_seconds, "threshold": threshold, "since": since.isoformat()}
    bursts: list[SecurityEvent | None] = []
    if failure.remote_addr:
        address = failure.remote_addr
        bursts.append(
            _burst(
                failed_logins_by(since=since, until=at, remote_addr=address),
                threshold=threshold,
                at=at,
                subject=f"login:address:{address}",
                described=f"from {address}",
                others=("user name", "user names"),
                evidence={"address": address},
                listed="user_names",
                common=common,
            )
        )
    if failure.actor_username:
        username = failure.actor_username
        bursts.append(
            _burst(
                failed_logins_by(since=since, until=at, username=username),
                threshold=threshold,
                at=at,
                subject=f"login:user:{username}",
                described=f"for user name {username!r}",
                others=("address", "addresses"),
                evidence={"user_name": username},
                listed="addresses",
                common=common,
            )
        )
    events = [event for event in bursts if event is not None]
    for event in events:
        report_security_event(event)
    return events


def _burst(
    counts: dict[str, int],
    *,
    threshold: int,
    at: datetime,
    subject: str,
    described: str,
    others: tuple[str, str],
    evidence: dict[str, Any],
    listed: str,
    common: dict[str, Any],
) -> SecurityEvent | None:
    """The burst event of one address or user name when its failures within the window `counts` (by the other
    key) reach a multiple of the threshold, else None."""
    total = sum(counts.values())
    if not _due(total, threshold):
        return None
    minutes = f"{common['window_seconds'] / 60:g}"
    other = others[0] if len(counts) == 1 else others[1]
    return SecurityEvent(
        kind=SecurityEventKind.FAILED_LOGIN_BURST,
        subject=subject,
        message=f"{total} failed logins {described} in {minutes} min ({len(counts)} {other})",
        at=at,
        evidence={**evidence, "failures": total, listed: _top(counts), **common},
    )


def failed_login_recorded(sender: Any, instance: AuditEvent, created: bool = False, **kwargs: Any) -> None:
    """post_save of an audit event: a failed login is counted; sign-in never fails because of it."""
    if not created or instance.action != AuditAction.LOGIN_FAILED:
        return
    try:
        failed_login_burst_check(failure=instance)
    except Exception:
        logger.exception("failed-login burst check failed")
