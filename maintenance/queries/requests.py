"""Reads of work requests: lists, one request with its comments and the downtime of its machine around it."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from maintenance.models import MaintenanceRequest, RequestStatus
from production.models import MachineState, StateInterval

#: A request's downtime: the stops of its machine from this long before it was opened until this long after it was
#: closed (or now): what it avoided (none before it) or caused (the maintenance stop itself).
DOWNTIME_AROUND = timedelta(hours=24)
STOPPED = [MachineState.UNPLANNED_DOWN, MachineState.PLANNED_STOP, MachineState.SETUP]


def requests_list(*, status: str | None = None, machine_id: int | None = None) -> QuerySet[MaintenanceRequest]:
    rows = MaintenanceRequest.objects.select_related("machine__line__area", "assignee", "created_by", "closed_by")
    if status:
        rows = rows.filter(status=status)
    if machine_id is not None:
        rows = rows.filter(machine_id=machine_id)
    return rows.order_by("-created_at", "-pk")


def open_requests_by_machine() -> dict[int, int]:
    """Machine id -> its requests not done yet."""
    counts: dict[int, int] = {}
    for machine_id in MaintenanceRequest.objects.exclude(status=RequestStatus.DONE).values_list(
        "machine_id", flat=True
    ):
        counts[machine_id] = counts.get(machine_id, 0) + 1
    return counts


def downtime_relation(*, request: MaintenanceRequest, stop: StateInterval) -> str:
    """How a stop of the request's machine stands to it: "before" it was opened (what it came too late to avoid),
    "while_open" (from opening to done: the maintenance stop it caused, or a failure while it waited), "after_done"
    (a stop after the maintenance: a failure it did not avoid, or none, which is what it avoided)."""
    if stop.start < request.created_at and (stop.end is None or stop.end <= request.created_at):
        return "before"
    if request.closed_at is not None and stop.start >= request.closed_at:
        return "after_done"
    return "while_open"


def request_downtime(*, request: MaintenanceRequest) -> list[StateInterval]:
    """The stops of the request's machine around it (production's state intervals), oldest first; each with its
    `relation` to the request (downtime_relation)."""
    start = request.created_at - DOWNTIME_AROUND
    end = (request.closed_at or timezone.now()) + DOWNTIME_AROUND
    stops = list(
        StateInterval.objects.filter(machine_id=request.machine_id, state__in=STOPPED, start__lt=end)
        .filter(Q(end__isnull=True) | Q(end__gt=start))
        .select_related("reason")
        .order_by("start")
    )
    for stop in stops:
        stop.relation = downtime_relation(request=request, stop=stop)  # type: ignore[attr-defined]
    return stops
