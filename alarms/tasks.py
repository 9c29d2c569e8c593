"""Thin Celery tasks: take ids, call a service."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from alarms.services.actions import alarm_shelves_expire
from alarms.services.journal import journal_partitions_create_ahead, journal_retention_apply
from alarms.services.notifications import (
    MAX_ATTEMPTS,
    NotificationError,
    notification_deliver,
    notification_escalations_due,
    notification_give_up,
    notification_retry_delay,
)


@shared_task(bind=True, max_retries=MAX_ATTEMPTS - 1, ignore_result=True)
def notification_send(self, delivery_id: int) -> str:
    try:
        return notification_deliver(delivery_id=delivery_id)
    except NotificationError as exc:
        if self.request.retries >= self.max_retries:
            notification_give_up(delivery_id=delivery_id)
            return "failed"
        raise self.retry(exc=exc, countdown=notification_retry_delay(self.request.retries)) from None


@shared_task(ignore_result=True)
def alarm_escalations() -> int:
    return len(notification_escalations_due(now=timezone.now()))


@shared_task(ignore_result=True)
def alarm_shelves_expire_due() -> int:
    return len(alarm_shelves_expire(now=timezone.now()).done)


@shared_task(ignore_result=True)
def alarm_journal_maintain() -> int:
    now = timezone.now()
    created = journal_partitions_create_ahead(now=now)
    if settings.ALARMS_JOURNAL_KEEP_MONTHS:
        journal_retention_apply(now=now, keep_months=settings.ALARMS_JOURNAL_KEEP_MONTHS)
    return len(created)
