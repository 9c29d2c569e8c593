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
from datetime import timedelta
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
    minutes = f"{window_seconds / 60:g}"
    common = {"window_seconds": window_seconds, "threshold": threshold, "since": since.isoformat()}
    events: list[SecurityEvent] = []
    if failure.remote_addr:
        names = failed_logins_by(since=since, until=at, remote_addr=failure.remote_addr)
        total = sum(names.values())
        if _due(total, threshold):
            events.append(
                SecurityEvent(
                    kind=SecurityEventKind.FAILED_LOGIN_BURST,
                    subject=f"login:address:{failure.remote_addr}",
                    message=f"{total} failed logins from {failure.remote_addr} in {minutes} min "
                    f"({len(names)} user name{'s' if len(names) != 1 else ''})",
                    at=at,
                    evidence={"address": failure.remote_addr, "failures": total, "user_names": _top(names), **common},
                )
            )
    if failure.actor_username:
        addresses = failed_logins_by(since=since, until=at, username=failure.actor_username)
        total = sum(addresses.values())
        if _due(total, threshold):
            events.append(
                SecurityEvent(
                    kind=SecurityEventKind.FAILED_LOGIN_BURST,
                    subject=f"login:user:{failure.actor_username}",
                    message=f"{total} failed logins for user name {failure.actor_username!r} in {minutes} min "
                    f"({len(addresses)} address{'es' if len(addresses) != 1 else ''})",
                    at=at,
                    evidence={
                        "user_name": failure.actor_username,
                        "failures": total,
                        "addresses": _top(addresses),
                        **common,
                    },
                )
            )
    for event in events:
        report_security_event(event)
    return events


def failed_login_recorded(sender: Any, instance: AuditEvent, created: bool = False, **kwargs: Any) -> None:
    """post_save of an audit event: a failed login is counted; sign-in never fails because of it."""
    if not created or instance.action != AuditAction.LOGIN_FAILED:
        return
    try:
        failed_login_burst_check(failure=instance)
    except Exception:
        logger.exception("failed-login burst check failed")
