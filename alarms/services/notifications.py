"""Alarm notifications: routed by priority and area, sent by email or signed webhook, escalated when unacknowledged.

A delivery row exists per (route, alarm, annunciation) -- unique, so an escalation or a re-dispatch fires once --
and records the attempts. Sending happens in a Celery task (tasks.py) that retries with exponential backoff.

Webhooks: a JSON POST with `X-Millwright-Timestamp` (Unix seconds) and
`X-Millwright-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the route's secret>`; the receiver
recomputes it and should refuse an old timestamp (replay).
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import cast

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alarms.models import (
    PRIORITY_RANK,
    Alarm,
    Channel,
    DeliveryStatus,
    NotificationDelivery,
    NotificationRoute,
    Priority,
)
from alarms.queries.alarm_list import alarm_rows
from alarms.services.transitions import AlarmEvent
from alarms.state_machine import UNACKNOWLEDGED

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Millwright-Signature"
TIMESTAMP_HEADER = "X-Millwright-Timestamp"
MAX_ATTEMPTS = 7
MAX_BACKOFF_SECONDS = 900


class NotificationError(Exception):
    """A delivery attempt failed in a way worth retrying (receiver down, HTTP error, mail server refused)."""


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def notification_retry_delay(attempt: int) -> int:
    """Seconds before retry number `attempt` (0-based): 10, 20, 40 ... at most MAX_BACKOFF_SECONDS."""
    return min(MAX_BACKOFF_SECONDS, 10 * 2**attempt)


PAYLOAD_FIELDS = (
    "id", "name", "category", "source", "tag", "machine", "line", "area", "priority", "state", "message", "value",
    "units", "active_since", "acknowledged_by", "evidence", "repeat_count",
)  # fmt: skip


def _payload(row: dict, *, kind: str, at: datetime) -> dict:
    return {"kind": kind, "sent_for": at.isoformat(), "alarm": {key: row[key] for key in PAYLOAD_FIELDS}}


def _deliveries_create(items: list[tuple[NotificationRoute, int, datetime, dict]]) -> list[int]:
    """Create the deliveries that do not exist yet and queue their sending after commit; returns their ids."""
    from alarms.tasks import notification_send

    created_ids = []
    for route, alarm_id, annunciated_at, payload in items:
        delivery, created = NotificationDelivery.objects.get_or_create(
            route=route, alarm_id=alarm_id, annunciated_at=annunciated_at, defaults={"payload": payload}
        )
        if created:
            created_ids.append(delivery.pk)
    for delivery_id in created_ids:
        transaction.on_commit(partial(notification_send.delay, delivery_id))
    return created_ids


def notifications_dispatch(*, events: Sequence[AlarmEvent]) -> list[int]:
    """Deliveries for newly annunciated alarms over the matching (non-escalation) routes. Never raises."""
    if not events:
        return []
    try:
        routes = list(NotificationRoute.objects.filter(enabled=True, escalate_after_minutes__isnull=True))
        # A security alarm goes over security routes only (routes whose category an administrator allowed to see
        # security alarms chose: see the route admin); a process route never carries one.
        matching = [
            (e, r)
            for e in events
            for r in routes
            if r.matches(priority=e.priority, area_id=e.area_id, category=e.category)
        ]
        if not matching:
            return []
        rows = {row["id"]: row for row in alarm_rows(ids={e.alarm_id for e, _ in matching}, security=True)}
        with transaction.atomic():
            return _deliveries_create(
                [(r, e.alarm_id, e.time, _payload(rows[e.alarm_id], kind="alarm", at=e.time)) for e, r in matching]
            )
    except Exception:
        logger.exception("alarm notifications could not be queued")
        return []


def notification_escalations_due(*, now: datetime) -> list[int]:
    """Deliveries over escalation routes for alarms unacknowledged longer than the route's minutes."""
    created: list[int] = []
    routes = NotificationRoute.objects.filter(enabled=True, escalate_after_minutes__isnull=False)
    for route in routes:
        minutes = cast(int, route.escalate_after_minutes)  # never None: the routes are filtered on it
        priorities = [p.value for p in Priority if PRIORITY_RANK[p] <= PRIORITY_RANK[Priority(route.min_priority)]]
        alarms = Alarm.objects.filter(
            definition__enabled=True,
            definition__priority__in=priorities,
            state__in=[s.value for s in UNACKNOWLEDGED],
            shelved_until__isnull=True,
            suppressed=False,
            out_of_service=False,
            active_since__lte=now - timedelta(minutes=minutes),
            definition__category=route.category,
        )
        if route.area_id is not None:
            alarms = alarms.filter(definition__tag__machine__line__area_id=route.area_id)
        candidates = list(alarms.values_list("pk", "active_since"))
        sent = set(
            route.deliveries.filter(alarm_id__in=[pk for pk, _ in candidates]).values_list("alarm_id", "annunciated_at")
        )
        # `since` is never None (active_since__lte above): the test only narrows its type.
        due = [(pk, since) for pk, since in candidates if since is not None and (pk, since) not in sent]
        if not due:
            continue
        rows = {row["id"]: row for row in alarm_rows(ids=[pk for pk, _ in due], security=True)}
        with transaction.atomic():
            created += _deliveries_create(
                [(route, pk, since, _payload(rows[pk], kind="escalation", at=now)) for pk, since in due]
            )
    return created


def notification_deliver(*, delivery_id: int) -> str:
    """One attempt; returns the status. Raises NotificationError when the attempt failed (the task retries)."""
    delivery = NotificationDelivery.objects.select_related("route").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return delivery.status if delivery else "missing"
    NotificationDelivery.objects.filter(pk=delivery_id).update(attempts=F("attempts") + 1)
    route = delivery.route
    try:
        if route.channel == Channel.WEBHOOK:
            _webhook_post(route, delivery.payload)
        else:
            _email_send(route, delivery.payload)
    except NotificationError as exc:
        NotificationDelivery.objects.filter(pk=delivery_id).update(last_error=str(exc)[:2000])
        raise
    NotificationDelivery.objects.filter(pk=delivery_id).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return DeliveryStatus.SENT


def notification_give_up(*, delivery_id: int) -> None:
    NotificationDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED
    )


def _webhook_post(route: NotificationRoute, payload: dict) -> None:
    if not route.target.startswith(("http://", "https://")):
        raise NotificationError(f"not an http(s) URL: {route.target!r}")
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310  (scheme checked above)
        route.target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Millwright-Alarms/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(secret=route.secret, timestamp=timestamp, body=body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ALARMS_WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise NotificationError(f"webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise NotificationError(f"webhook unreachable: {getattr(exc, 'reason', exc)}") from None


def route_addresses(route: NotificationRoute) -> list[str]:
    """An email route's addresses (its target, comma-separated)."""
    return [a.strip() for a in route.target.split(",") if a.strip()]


def _email_send(route: NotificationRoute, payload: dict) -> None:
    alarm = payload["alarm"]
    prefix = "ESCALATION " if payload["kind"] == "escalation" else ""
    subject = f"[{prefix}{alarm['priority'].upper()}] {alarm['message']}"[:200]
    if alarm.get("category") == "security":
        lines = [
            alarm["message"],
            "",
            f"Alarm     {alarm['name']} (security)",
            f"Source    {alarm['source']}",
            f"Priority  {alarm['priority']}",
            f"State     {alarm['state'].replace('_', ' ')}",
            f"Seen      {alarm['repeat_count'] + 1} time(s)",
            "",
            "Evidence",
            json.dumps(alarm.get("evidence") or {}, indent=2, sort_keys=True),
        ]
    else:
        lines = [
            alarm["message"],
            "",
            f"Alarm     {alarm['name']}",
            f"Tag       {alarm['tag']}",
            f"Where     {alarm['area']} / {alarm['line']} / {alarm['machine']}",
            f"Priority  {alarm['priority']}",
            f"State     {alarm['state'].replace('_', ' ')}",
            f"Value     {alarm['value']} {alarm['units']}",
        ]
    recipients = route_addresses(route)
    try:
        send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    except OSError as exc:  # smtplib errors are OSErrors
        raise NotificationError(f"mail not sent: {exc}") from None


def message_send(*, route: NotificationRoute, subject: str, payload: dict, text: str | None = None) -> None:
    """Send one message that is no alarm (a rule's notification, a maintenance work request's change) over `route`,
    once: a webhook gets `payload` as JSON, signed like an alarm's; an email gets `subject` and `text` (by default
    the payload as text). NotificationError on failure."""
    if route.channel == Channel.WEBHOOK:
        _webhook_post(route, payload)
        return
    if text is None:
        text = "\n".join([subject, "", json.dumps(payload, indent=2, sort_keys=True, default=str)])
    body = text
    try:
        send_mail(subject[:200], body, settings.DEFAULT_FROM_EMAIL, route_addresses(route))
    except OSError as exc:
        raise NotificationError(f"mail not sent: {exc}") from None
