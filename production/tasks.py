"""Thin Celery tasks: call a service."""

from celery import shared_task

from production.services.reports import shift_reports_run_due


@shared_task(ignore_result=True)
def shift_reports_generate() -> int:
    """The reports of the shifts that just ended, for every line with a calendar (each once), mailed."""
    return len(shift_reports_run_due())
