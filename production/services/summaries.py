"""The KPI summaries' upkeep: stored by production.queries.kpis once a segment is closed, deleted here whenever
something they were computed from changes, so that the next request computes them again.

What changes a closed segment's figures, and what deletes its summary:
- an interval changed, created or deleted over it (re-derivation of late values, a rebuild, an operator's
  classification or split): the StateInterval signals below, for the interval's whole span (a stop's whole length
  decides whether it is a micro-stop, so closing a stop that began in a summarised segment changes that segment);
- a late value of a counter (or any source tag): `summaries_late_invalidate`, an after-store hook; a row is late when
  it is older than SETTLE before the batch's processing time. Summaries are only stored for segments that ended
  SETTLE ago, so a value in order never touches one and the hook costs one numpy comparison per batch;
- the configuration (cycle times, calendars, thresholds, reasons): every summary goes (rare, admin work).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np

from historian.sample_types import SampleBatch, SampleRow, datetime_to_us, us_to_datetime
from production.models import KpiSummary
from production.services.sources import production_sources

logger = logging.getLogger(__name__)

#: A segment is summarised once it ended this long ago; a value older than this when stored is late.
SETTLE = timedelta(minutes=10)
#: A stretch changed from (now - SETTLE + SETTLE_MARGIN) on overlaps no summary: the margin covers a processing
#: time a little behind the clock of the request that stored one.
SETTLE_MARGIN = timedelta(minutes=1)


def summaries_may_overlap(*, start: datetime, now: datetime) -> bool:
    """Whether a change from `start` on, made at processing time `now`, may fall in a summarised segment: summaries
    are only stored for segments that ended SETTLE ago, so a change younger than that (a value in order, closing a
    stop of a few minutes) needs no delete query."""
    return start < now - SETTLE + SETTLE_MARGIN


def summaries_invalidate(*, machine_id: int, start: datetime, end: datetime | None = None) -> int:
    """Delete the machine's summaries of segments overlapping [start, end) (end None: up to now)."""
    found = KpiSummary.objects.filter(machine_id=machine_id, end__gt=start)
    if end is not None:
        found = found.filter(start__lt=end)
    deleted, _ = found.delete()
    return deleted


def summaries_clear() -> int:
    deleted, _ = KpiSummary.objects.all().delete()
    return deleted


def summaries_hook() -> Callable[..., int]:
    """The after-store hook factory ProductionConfig.ready() registers: every writer of values gets
    summaries_late_invalidate (it remembers nothing between batches)."""
    return summaries_late_invalidate


def summaries_late_invalidate(*, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> int:
    """The after-store hook: late rows of a machine's production tags delete the summaries from their time on."""
    try:
        limit = now - SETTLE
        oldest: dict[int, datetime]
        if isinstance(rows, SampleBatch):
            late = rows.time_us < datetime_to_us(limit)
            if not late.any():
                return 0
            tags, times = rows.tag_id[late], rows.time_us[late]
            order = np.lexsort((times, tags))  # by tag, oldest first: each tag's first row is its oldest
            tags, times = tags[order], times[order]
            first = np.flatnonzero(np.r_[True, tags[1:] != tags[:-1]])
            oldest = {int(tags[k]): us_to_datetime(int(times[k])) for k in first}
        else:
            oldest = {}
            for row in rows:
                if row.time < limit and (row.tag_id not in oldest or row.time < oldest[row.tag_id]):
                    oldest[row.tag_id] = row.time
            if not oldest:
                return 0
        return _late_invalidate(oldest)
    except Exception:
        logger.exception("KPI summary invalidation failed")
        return 0


def _late_invalidate(oldest: dict[int, datetime]) -> int:
    """Delete from each machine's oldest late value on; the machines a tag describes come from the cached
    configuration (services/sources.py: state, counters, product of every machine, enabled or not), not a query."""
    by_tag = production_sources().summary_tags
    since: dict[int, datetime] = {}
    for tag_id, time in oldest.items():
        for machine_id in by_tag.get(tag_id, ()):
            if machine_id not in since or time < since[machine_id]:
                since[machine_id] = time
    return sum(summaries_invalidate(machine_id=machine_id, start=time) for machine_id, time in since.items())
