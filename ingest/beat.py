"""A Celery beat scheduler with one entry per scan class, read from the database.

Scan classes added or changed in admin are picked up within REFRESH_SECONDS, without restarting beat.
Run beat with `-S ingest.beat:ScanClassScheduler`.
"""

import logging
import time
from datetime import timedelta

from celery.beat import Scheduler
from django.db import DatabaseError, close_old_connections

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
ENTRY_PREFIX = "scan-class-"


def scan_class_entries() -> dict[str, dict]:
    from historian.models import ScanClass

    return {
        f"{ENTRY_PREFIX}{sc.pk}": {
            "task": "ingest.tasks.poll_scan_class",
            "schedule": timedelta(milliseconds=sc.period_ms),
            "args": (sc.pk,),
            "options": {"expires": sc.period_ms / 1000},
        }
        for sc in ScanClass.objects.all()
    }


class ScanClassScheduler(Scheduler):
    def setup_schedule(self) -> None:
        self._next_refresh = 0.0
        self._refresh()

    def _refresh(self) -> None:
        self._next_refresh = time.monotonic() + REFRESH_SECONDS
        close_old_connections()
        try:
            dynamic = scan_class_entries()
        except DatabaseError:
            logger.exception("could not read scan classes; keeping the current schedule")
            return
        self.merge_inplace({**self.app.conf.beat_schedule, **dynamic})
        self.install_default_entries(self.schedule)

    def tick(self, *args, **kwargs) -> float:
        if time.monotonic() >= self._next_refresh:
            self._refresh()
        return min(super().tick(*args, **kwargs), REFRESH_SECONDS)
