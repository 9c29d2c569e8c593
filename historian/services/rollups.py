"""Keeping the 1-minute and 1-hour rollups up to date on plain PostgreSQL (TimescaleDB's policies do it there)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from historian.storage import sample_storage
from historian.storage.base import RollupStep
from historian.storage.postgres import ROLLUP_LAG

# Late notes are re-rolled about this many tag-minutes per transaction (a large backfill takes several).
LATE_BUCKETS = 10_000


@dataclass
class RollupReport:
    backend: str
    late_ranges: int = 0  # notes of late-written ranges re-rolled
    buckets_1m: int = 0  # 1m rows written (new and re-rolled)
    buckets_1h: int = 0
    transactions: int = 0
    rolled_until_1m: datetime | None = None  # None: maintained by the database (TimescaleDB)
    rolled_until_1h: datetime | None = None
    busy: bool = False  # another refresh held the lock: this one stopped, that one goes on
    complete: bool = True  # False: stopped at max_chunks / max_late_batches, the next run continues

    def add(self, step: RollupStep) -> None:
        self.late_ranges += step.late_ranges
        self.buckets_1m += step.buckets_1m
        self.buckets_1h += step.buckets_1h
        self.transactions += 1
        self.rolled_until_1m = step.rolled_until_1m
        self.rolled_until_1h = step.rolled_until_1h


def rollups_refresh(*, now: datetime | None = None, max_chunks: int = 48, max_late_batches: int = 50) -> RollupReport:
    """Re-roll the buckets of late rows, then roll the rollups forward to `now` less a safety lag.

    Each step is its own transaction that moves the recorded watermark with the rows it wrote, so a run that dies
    leaves everything before its last commit done and the next run resumes there. A run does at most `max_chunks`
    hours of raw samples; catching up after a long stop takes several runs (beat runs one every 30 s).
    """
    storage = sample_storage()
    report = RollupReport(backend=storage.name)
    if not storage.maintains_rollups:
        return report
    target = (now or timezone.now()) - ROLLUP_LAG
    phases: list[tuple[Callable[[Any], RollupStep | None], int]] = [
        (lambda cursor: storage.rollups_reroll_late(cursor, max_buckets=LATE_BUCKETS), max_late_batches),
        (lambda cursor: storage.rollups_advance(cursor, target=target), max_chunks),
    ]
    for run, limit in phases:
        for _ in range(limit):
            with transaction.atomic(), connection.cursor() as cursor:
                step = run(cursor.cursor)
            if step is None:
                report.busy = True
                return report
            report.add(step)
            if step.done:
                break
        else:
            report.complete = False
    return report
