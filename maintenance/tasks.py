"""Thin Celery tasks: take ids, call a service."""

from typing import Any

from celery import shared_task

from alarms.services.notifications import MAX_ATTEMPTS, NotificationError, notification_retry_delay
from maintenance.services.notify import request_notification_deliver


@shared_task(bind=True, max_retries=MAX_ATTEMPTS - 1, ignore_result=True)
def request_notification_send(self, route_id: int, payload: dict[str, Any]) -> bool:
    try:
        return request_notification_deliver(route_id=route_id, payload=payload)
    except NotificationError as exc:
        if self.request.retries >= self.max_retries:
            return False
        raise self.retry(exc=exc, countdown=notification_retry_delay(self.request.retries)) from None
