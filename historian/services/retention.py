"""How long history is kept: a global default and per-tag overrides (HistorianSettings, Tag.retention_days).

Retention covers a tag's samples and its 1m / 1h rollups alike. Whole stretches of time go cheaply: plain
PostgreSQL drops daily partitions, TimescaleDB's retention policy drops chunks. Those can only follow the longest
retention in force (a partition holds every tag), so tags kept for less have their older rows deleted one tag at a
time. Run daily by Celery beat, and after an administrator changes a retention.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from historian.models import HistorianSettings, Tag
from historian.storage import ROLLUP_1H, bucket_floor, sample_storage


@dataclass
class RetentionReport:
    backend: str
    policy_changes: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    tags_trimmed: int = 0  # tags whose older samples were deleted row by row
    samples_deleted: int = 0
    rollup_rows_deleted: int = 0
    text_samples_deleted: int = 0  # string tags' samples (their own table, trimmed by time on both backends)


def retention_apply(*, now: datetime | None = None) -> RetentionReport:
    now = now or timezone.now()
    settings = HistorianSettings.load()
    default = settings.default_retention_days
    tags = dict(Tag.objects.values_list("pk", "retention_days"))
    # Tags without their own retention follow the default; with no default, they are kept forever, and so is
    # every partition.
    longest = None if default is None else max([default, *(days for days in tags.values() if days is not None)])
    storage = sample_storage()
    report = RetentionReport(backend=storage.name)

    with transaction.atomic(), connection.cursor() as cursor:
        report.policy_changes = storage.policies_sync(
            cursor.cursor,
            drop_after_days=longest,
            chunk_hours=settings.chunk_interval_hours,
            compress_after_days=settings.compress_after_days,
        )

    whole_days_cutoff = None
    if longest is not None:
        day = (now - timedelta(days=longest)).astimezone(UTC).date()
        whole_days_cutoff = datetime.combine(day, time(), tzinfo=UTC)
        with transaction.atomic(), connection.cursor() as cursor:
            report.partitions_dropped = storage.partitions_drop_before(cursor.cursor, cutoff=whole_days_cutoff)

    def cutoff(days: int | None) -> datetime | None:
        """Rows before it go; an hour boundary, so that no rollup bucket is left half deleted."""
        if days is None:
            return None
        if days == longest:
            return whole_days_cutoff
        return bucket_floor(now - timedelta(days=days), ROLLUP_1H.width)

    cutoffs = {}
    for tag_id, days in tags.items():
        tag_cutoff = cutoff(days if days is not None else default)
        if tag_cutoff is None:
            continue
        cutoffs[tag_id] = tag_cutoff
        if tag_cutoff == whole_days_cutoff:
            continue  # the partitions / chunks dropped with the longest retention take care of its samples
        with transaction.atomic(), connection.cursor() as cursor:
            deleted = storage.tag_history_delete_before(cursor.cursor, tag_id=tag_id, cutoff=tag_cutoff)
        report.samples_deleted += deleted
        report.tags_trimmed += 1

    with transaction.atomic(), connection.cursor() as cursor:
        report.rollup_rows_deleted = storage.rollups_delete_before(
            cursor.cursor, cutoffs=cutoffs, other_tags_cutoff=cutoff(default)
        )
    with transaction.atomic(), connection.cursor() as cursor:
        report.text_samples_deleted = storage.text_samples_delete_before(
            cursor.cursor, cutoffs=cutoffs, other_tags_cutoff=cutoff(default)
        )
    return report
