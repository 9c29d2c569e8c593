"""Thin Celery tasks: take ids, call a service."""

from celery import shared_task
from django.utils import timezone

from automation.services.firings import firing_run
from automation.services.ticks import rules_tick


@shared_task(ignore_result=True)
def rule_firing_run(firing_id: int) -> int:
    return len(firing_run(firing_id=firing_id))


@shared_task(ignore_result=True)
def rules_tick_run() -> int:
    return len(rules_tick(now=timezone.now()))
