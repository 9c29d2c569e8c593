"""The KPI summaries' upkeep: which changes may fall in a summarised segment (the others need no delete query)."""

from datetime import UTC, datetime, timedelta

from production.services.summaries import SETTLE, SETTLE_MARGIN, summaries_may_overlap

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def test_a_change_younger_than_the_settle_time_overlaps_no_summary():
    assert not summaries_may_overlap(start=NOW - timedelta(minutes=3), now=NOW)
    assert not summaries_may_overlap(start=NOW - SETTLE + SETTLE_MARGIN, now=NOW)


def test_a_change_reaching_back_past_the_settle_time_may_overlap_one():
    # Closing a stop that began before a segment summarised since (its whole length decides micro-stop or not).
    assert summaries_may_overlap(start=NOW - SETTLE + SETTLE_MARGIN - timedelta(seconds=1), now=NOW)
    assert summaries_may_overlap(start=NOW - timedelta(hours=3), now=NOW)
