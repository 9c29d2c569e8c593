"""Thin Celery tasks: take ids, call a service. Polling itself runs in the poller of `celery worker --acquisition`
(ingest/acquisition/worker.py), not as a task per scan."""

from celery import shared_task
from django.conf import settings

from ingest.pipeline.buffer import buffer_replay


@shared_task(ignore_result=True)
def replay_buffer() -> int:
    """Drain this host's store-and-forward buffer into the database (the poll path also replays, batch by batch)."""
    return buffer_replay(max_seconds=settings.INGEST_REPLAY_TASK_SECONDS).replayed
