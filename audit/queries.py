"""Reads of the audit trail: CSV exports, streamed (the trail grows without bound), through common.csv: a failed
login's user name is typed by anyone, so every text cell goes through the formula guard."""

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from django.db.models import Count, QuerySet

from audit.models import AuditAction, AuditEvent
from common.csv import csv_stream

_CHUNK = 2000


def _csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    return csv_stream(header, rows, chunk_rows=_CHUNK)


def audit_events_csv(*, queryset: QuerySet[AuditEvent]) -> Iterator[str]:
    rows = (
        [e.timestamp.isoformat(), e.actor_username, e.action, e.target, json.dumps(e.details), e.remote_addr or ""]
        for e in queryset.order_by("timestamp", "id").iterator(chunk_size=_CHUNK)
    )
    return _csv_lines(["timestamp", "user", "action", "target", "details", "remote_addr"], rows)


def log_entries_csv(*, queryset: QuerySet[LogEntry]) -> Iterator[str]:
    """Configuration changes: one line per object change, `changes` as {field: [before, after]}."""
    entries = queryset.select_related("content_type", "actor").order_by("timestamp", "id")
    rows = (
        [
            e.timestamp.isoformat(),
            e.actor.get_username() if e.actor is not None else (e.actor_email or ""),
            e.get_action_display(),
            f"{e.content_type.app_label}.{e.content_type.model}",
            e.object_pk,
            e.object_repr,
            json.dumps(e.changes_dict, ensure_ascii=False),
            e.remote_addr or "",
        ]
        for e in entries.iterator(chunk_size=_CHUNK)
    )
    return _csv_lines(["timestamp", "user", "action", "model", "object_id", "object", "changes", "remote_addr"], rows)


def failed_logins_by(
    *, since: datetime, until: datetime, remote_addr: str | None = None, username: str | None = None
) -> dict[str, int]:
    """Failed logins in [since, until]: from `remote_addr`, counted per user name tried; or for `username`,
    counted per address they came from (one grouped query on the trail)."""
    if (remote_addr is None) == (username is None):
        raise ValueError("give either remote_addr or username")
    failed = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, timestamp__gte=since, timestamp__lte=until)
    if remote_addr is not None:
        rows = failed.filter(remote_addr=remote_addr).values_list("actor_username").annotate(n=Count("id"))
    else:
        rows = failed.filter(actor_username=username).values_list("remote_addr").annotate(n=Count("id"))
    return {str(key or ""): n for key, n in rows.order_by()}
