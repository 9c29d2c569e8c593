"""Thin Celery tasks: take ids, call a service."""

from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from historian.models import ScanClass
from ingest.services.buffer import buffer_replay
from ingest.services.poll import device_poll, scan_class_device_ids


@shared_task(ignore_result=True)
def poll_scan_class(scan_class_id: int) -> int:
    """Fan out one poll per device; each expires after one period, so a backlog is dropped, not worked off."""
    period_s = ScanClass.objects.values_list("period_ms", flat=True).get(pk=scan_class_id) / 1000
    scheduled_at = timezone.now().isoformat()
    device_ids = scan_class_device_ids(scan_class_id=scan_class_id)
    for device_id in device_ids:
        poll_device.apply_async(args=[device_id, scan_class_id, scheduled_at], expires=period_s)
    return len(device_ids)


@shared_task(ignore_result=True)
def poll_device(device_id: int, scan_class_id: int, scheduled_at: str | None = None) -> str:
    when = datetime.fromisoformat(scheduled_at) if scheduled_at else None
    return device_poll(device_id=device_id, scan_class_id=scan_class_id, scheduled_at=when).status


@shared_task(ignore_result=True)
def replay_buffer() -> int:
    """Drain this host's store-and-forward buffer into the database (the poll path also replays, batch by batch)."""
    return buffer_replay(max_seconds=settings.INGEST_REPLAY_TASK_SECONDS).replayed
