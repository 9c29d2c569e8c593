"""Machine-state intervals and stops (downtime) over a range, for the API and the exports (ORM: production's own
table)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Q, QuerySet

from production.models import MachineProduction, MachineState, StateInterval


def intervals_in_range(*, machine_ids: Sequence[int], start: datetime, end: datetime) -> QuerySet[StateInterval]:
    """The intervals of the machines overlapping [start, end), by machine and time (whole, not cut to the range)."""
    return (
        StateInterval.objects.filter(machine_id__in=machine_ids, start__lt=end)
        .filter(Q(end__isnull=True) | Q(end__gt=start))
        .select_related("machine", "product", "reason__category", "auto_reason", "classified_by")
        .order_by("machine_id", "start")
    )


def stops_in_range(*, machine_ids: Sequence[int], start: datetime, end: datetime) -> QuerySet[StateInterval]:
    """The stops (every state but running and off) overlapping [start, end), newest first."""
    return (
        intervals_in_range(machine_ids=machine_ids, start=start, end=end)
        .exclude(state__in=[MachineState.RUNNING, MachineState.OFF])
        .order_by("-start", "machine_id")
    )


def reason_required_seconds(machine_ids: Sequence[int]) -> dict[int, int]:
    """Each machine's reason-required threshold (a stop without a reason longer than it is Unclassified)."""
    return dict(
        MachineProduction.objects.filter(machine_id__in=machine_ids).values_list(
            "machine_id", "reason_required_seconds"
        )
    )
