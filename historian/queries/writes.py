"""Reads of writes to the plant (issue 14): a tag's recent write requests, a machine's writable tags with their
policies (what the operator controls show), and a request awaiting approval. The rules are enforced by
ingest.services.writes; nothing here writes.

A request's token is never part of a row: it is the capability of the person who armed the write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from historian.models import WritePolicy, WriteRequest, WriteRequestState

MAX_RECENT = 100


def _ms(moment: datetime | None) -> int | None:
    return round(moment.timestamp() * 1000) if moment is not None else None


def write_request_row(request: WriteRequest) -> dict[str, Any]:
    """One request as the API and the pages show it (no token)."""
    return {
        "id": request.pk,
        "tag": request.tag_id,
        "value": request.value,
        "state": request.state,
        "outcome": request.outcome,
        "requested_by": request.requested_by.get_username() if request.requested_by else "",
        "requested_via": request.requested_via,
        "requested_at": request.requested_at,
        "expires_at": request.expires_at,
        "approved_by": request.approved_by.get_username() if request.approved_by else "",
        "executed_at": request.executed_at,
        "sent": request.sent,
        "old_value": request.old_value,
        "read_back": request.read_back,
        "error": request.error,
    }


def tag_writes_recent(*, tag_ids: list[int], limit: int = 10) -> list[WriteRequest]:
    """The newest write requests of these tags (armed, awaiting, executed, refused or expired), newest first."""
    limit = max(1, min(limit, MAX_RECENT))
    return list(
        WriteRequest.objects.filter(tag_id__in=tag_ids)
        .select_related("requested_by", "approved_by")
        .order_by("-requested_at", "-id")[:limit]
    )


def write_request_awaiting_approval(*, request_id: int) -> WriteRequest | None:
    """The request `request_id` if it awaits a second person's approval, else None."""
    return (
        WriteRequest.objects.select_related("tag")
        .filter(pk=request_id, state=WriteRequestState.AWAITING_APPROVAL)
        .first()
    )


def machine_write_controls(*, machine_id: int) -> list[dict[str, Any]]:
    """The machine's writable tags that have a write policy, with what the controls need to show: the policy's
    range, step and confirmation, and the tag's value labels (a command register's buttons)."""
    policies = (
        WritePolicy.objects.filter(tag__machine_id=machine_id, tag__writable=True)
        .select_related("tag__value_labels", "interlock_tag")
        .prefetch_related("tag__value_labels__entries")
        .order_by("tag__name", "tag_id")
    )
    controls = []
    for policy in policies:
        tag = policy.tag
        labels = (
            [
                {"value": e.value, "label": e.label}
                for e in tag.value_labels.entries.all()
                if policy.min_value <= e.value <= policy.max_value  # "None" (0) of a command register is no command
            ]
            if tag.value_labels is not None
            else []
        )
        controls.append(
            {
                "tag": tag.pk,
                "name": tag.name,
                "path": tag.path,
                "units": tag.units,
                "kind": "command" if labels else "setpoint",
                "labels": labels,
                "min": policy.min_value,
                "max": policy.max_value,
                "max_step": policy.max_step,
                "confirmation": policy.confirmation,
                "confirm_seconds": policy.confirm_within_seconds,
                "interlock": policy.interlock_text(),
            }
        )
    return controls
