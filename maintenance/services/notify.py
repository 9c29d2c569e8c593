"""Work request changes go out over the alarms' notification routes (email, signed webhook).

A route carries a request's change when it is enabled, not an escalation route, a process route, of the
request's area (or of every area) and takes high-priority alarms: work requests are as urgent as a high alarm.
Comments are not sent (the request's page has them). Sending happens after commit, in a Celery task.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction

from alarms.models import AlarmCategory, NotificationRoute, Priority

if TYPE_CHECKING:
    from maintenance.models import MaintenanceRequest

NOTIFIED_EVENTS = frozenset({"open", "plan", "assign", "done"})


def request_payload(*, request: MaintenanceRequest, event: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "maintenance_request",
        "event": event,
        "request": {
            "id": request.pk,
            "machine": request.machine.name,
            "component": request.component,
            "title": request.title,
            "status": request.status,
            "assignee": request.assignee.get_username() if request.assignee is not None else None,
            "by_monitor": request.by_monitor,
            "evidence": request.evidence,
        },
        "details": details,
    }


def request_notify(*, request: MaintenanceRequest, event: str, details: dict[str, Any]) -> list[int]:
    """Queue the change's sending over the matching routes (after commit); returns the routes' ids."""
    from maintenance.tasks import request_notification_send

    if event not in NOTIFIED_EVENTS:
        return []
    area_id = request.machine.line.area_id
    routes = [
        r.pk
        for r in NotificationRoute.objects.filter(enabled=True, escalate_after_minutes__isnull=True)
        if r.matches(priority=Priority.HIGH, area_id=area_id, category=AlarmCategory.PROCESS)
    ]
    payload = request_payload(request=request, event=event, details=details)
    for route_id in routes:
        transaction.on_commit(partial(request_notification_send.delay, route_id, payload))
    return routes


def request_notification_deliver(*, route_id: int, payload: dict[str, Any]) -> bool:
    """Send one change over one route; False when the route is gone. Raises NotificationError when it failed."""
    from alarms.services.notifications import message_send

    route = NotificationRoute.objects.filter(pk=route_id, enabled=True).first()
    if route is None:
        return False
    request = payload["request"]
    subject = f"[MAINTENANCE] #{request['id']} {request['machine']}: {request['title']} ({payload['event']})"
    lines = [
        request["title"],
        "",
        f"Request   #{request['id']} ({request['status']})",
        f"Machine   {request['machine']}",
        f"Component {request['component']}",
        f"Assignee  {request['assignee'] or '-'}",
        f"Change    {payload['event']}",
    ]
    explanation = (request.get("evidence") or {}).get("explanation")
    if explanation:
        lines += ["", f"Why       {explanation}"]
    message_send(route=route, subject=subject, text="\n".join(lines), payload=payload)
    return True
