from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from psycopg import sql

from historian.sample_types import TEXT_SAMPLE_TABLE, SampleBatch


class Rollup(NamedTuple):
    """A rollup relation: one row per (tag, bucket) that has samples.

    Columns, on both backends: bucket timestamptz, tag_id int4, sample_count bigint, min, max, sum, sum_sq float8,
    first_time timestamptz, first_value float8, last_time timestamptz, last_value float8, bad_count bigint.
    A *good* sample has a good quality (OPC: top two bits set) and a finite value; sample_count, min, max, sum,
    sum_sq and first_* / last_* are over the good samples only (NULL when a bucket has none), bad_count counts the
    others, so sample_count + bad_count is every sample of the bucket. Buckets are aligned to UTC.
    """

    name: str
    relation: str
    width: timedelta


ROLLUP_1M = Rollup("1m", "historian_rollup_1m", timedelta(minutes=1))
ROLLUP_1H = Rollup("1h", "historian_rollup_1h", timedelta(hours=1))
ROLLUPS: dict[str, Rollup] = {ROLLUP_1M.name: ROLLUP_1M, ROLLUP_1H.name: ROLLUP_1H}

# Buckets are counted from this instant (UTC midnight), like TimescaleDB's time_bucket for minutes and hours.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def rollup_named(rollup: str) -> Rollup:
    """The rollup called "1m" / "1h" (its relation name is accepted too)."""
    for candidate in ROLLUPS.values():
        if rollup in (candidate.name, candidate.relation):
            return candidate
    raise ValueError(f"Unknown rollup {rollup!r}: expected one of {', '.join(ROLLUPS)}.")


def bucket_floor(time: datetime, width: timedelta) -> datetime:
    """The start of the bucket of `width` holding `time` (exact: integer microsecond arithmetic)."""
    return BUCKET_ORIGIN + (time - BUCKET_ORIGIN) // width * width


class RollupStep(NamedTuple):
    """What one rollup maintenance transaction did (plain PostgreSQL)."""

    late_ranges: int
    buckets_1m: int
    buckets_1h: int
    rolled_until_1m: datetime
    rolled_until_1h: datetime
    done: bool


class SampleStorage(ABC):
    """What differs between the TimescaleDB and the plain PostgreSQL layout of the samples and their rollups."""

    name: str
    # True where the application maintains the rollup tables (plain PostgreSQL); TimescaleDB's continuous
    # aggregates are refreshed by its own policies.
    maintains_rollups: bool

    @abstractmethod
    def prepare_days(self, cursor, days: Iterable[date]) -> None:
        """Make sure rows of these (UTC) days go to their final place, before they are written."""

    def days_prepared(self, days: Iterable[date]) -> bool:
        """Whether prepare_days would have nothing to do (spares the writer a transaction per batch)."""
        return False

    @abstractmethod
    def create_ahead(self, cursor, *, start: datetime, days: int) -> list[str]:
        """Create storage for the coming days; returns the names of what was created."""

    @abstractmethod
    def rollup_watermark(self, cursor, rollup: str) -> datetime | None:
        """Up to where the rollup relation is complete; see `historian.storage.rollup_watermark`."""

    @abstractmethod
    def late_rows_record(self, cursor, rows: SampleBatch) -> int:
        """Called in the transaction that writes `rows`: note the rows that the rollups have already passed."""

    @abstractmethod
    def rollups_reroll_late(self, cursor, *, max_buckets: int) -> RollupStep | None:
        """Re-roll the buckets touched by late rows (a batch of them); None when another refresh is running."""

    @abstractmethod
    def rollups_advance(self, cursor, *, target: datetime) -> RollupStep | None:
        """Roll one bounded chunk towards `target`; None when another refresh is running."""

    @abstractmethod
    def policies_sync(
        self, cursor, *, drop_after_days: int | None, chunk_hours: int, compress_after_days: int
    ) -> list[str]:
        """Bring the database's own policies in line with the settings; returns what changed."""

    @abstractmethod
    def partitions_drop_before(self, cursor, *, cutoff: datetime) -> list[str]:
        """Drop whole stretches of samples older than `cutoff` (UTC midnight); returns what was dropped."""

    @abstractmethod
    def tag_history_delete_before(self, cursor, *, tag_id: int, cutoff: datetime) -> int:
        """Delete the samples (and rollup rows) of one tag older than `cutoff` (an hour boundary)."""

    @abstractmethod
    def rollups_delete_before(
        self, cursor, *, cutoffs: Mapping[int, datetime], other_tags_cutoff: datetime | None
    ) -> int:
        """Delete rollup rows older than each tag's cutoff (`other_tags_cutoff` for tags not listed)."""

    def text_samples_delete_before(
        self, cursor, *, cutoffs: Mapping[int, datetime], other_tags_cutoff: datetime | None
    ) -> int:
        """Delete the text samples (string tags) older than each tag's cutoff (`other_tags_cutoff` for tags not
        listed). The same on both backends: the table is small (strings are stored on change)."""
        deleted = 0
        if cutoffs:
            cursor.execute(
                sql.SQL(
                    "DELETE FROM {} AS s USING unnest(%s::int4[], %s::timestamptz[]) AS cut(tag_id, cutoff) "
                    "WHERE s.tag_id = cut.tag_id AND s.time < cut.cutoff"
                ).format(sql.Identifier(TEXT_SAMPLE_TABLE)),
                [list(cutoffs), list(cutoffs.values())],
            )
            deleted += cursor.rowcount
        if other_tags_cutoff is not None:
            cursor.execute(
                sql.SQL("DELETE FROM {} WHERE time < %s AND NOT (tag_id = ANY(%s::int4[]))").format(
                    sql.Identifier(TEXT_SAMPLE_TABLE)
                ),
                [other_tags_cutoff, list(cutoffs)],
            )
            deleted += cursor.rowcount
        return deleted
