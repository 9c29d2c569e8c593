"""Plain PostgreSQL: daily range partitions of the samples, rollup tables maintained by the application.

Rollups (`historian_rollup_1m`, `historian_rollup_1h`) are rolled forward from a watermark stored in
`historian_rollup_state` (Zulip's fill-state pattern): each chunk is one transaction that upserts the chunk's buckets
and moves the watermark, so a crash loses at most the chunk in progress and the next run resumes there. Rows written
behind the watermark (late or backfilled data) are noted by the writer in `historian_rollup_dirty`, and the next
refresh re-rolls exactly those buckets. Every maintenance transaction first takes one advisory lock: two refreshes
that computed the same bucket from different snapshots could otherwise commit the older result last.
"""

import time as monotonic_clock
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
from django.utils import timezone
from psycopg import sql

from historian.sample_types import SAMPLE_DEFAULT_PARTITION, SAMPLE_TABLE, SampleBatch, SampleRow, datetime_to_us

from .base import BUCKET_ORIGIN, ROLLUP_1H, ROLLUP_1M, Rollup, RollupStep, SampleStorage, bucket_floor, rollup_named

STATE_TABLE = "historian_rollup_state"
DIRTY_TABLE = "historian_rollup_dirty"
PARTITION_PREFIX = "historian_sample_p"

# The refresh rolls raw samples only up to `now - ROLLUP_LAG`; the query layer reads the rest from raw.
ROLLUP_LAG = timedelta(minutes=2)
# The writer treats every row older than `now - LATE_GRACE` as late (and notes its buckets), whatever the cached
# watermark says. Why: a refresh can pass a row's bucket only at now >= row time + ROLLUP_LAG, so a row that is not
# noted was written less than LATE_GRACE before its bucket could be rolled, leaving the writer's transaction
# ROLLUP_LAG - LATE_GRACE (a minute) to commit before a refresh could start without seeing it. A watermark cached
# for a few seconds alone would race: a refresh committing just after the cache was filled goes unnoticed.
LATE_GRACE = timedelta(minutes=1)
# The watermark is also checked (a refresh run with a clock ahead, e.g. `now=` in a test, moves it past the grace).
WATERMARK_CACHE_SECONDS = 5.0
# Raw samples rolled per transaction: at most one hour, so that the hour's 1h bucket follows in the same one.
CHUNK = ROLLUP_1H.width
# 1h buckets rolled (from 1m rows) per transaction when the 1h watermark trails behind (e.g. after a restore).
MAX_HOURS_PER_CHUNK = 24

ROLLUP_LOCK = sql.SQL("hashtext('historian_rollups')")
PARTITIONS_LOCK = sql.SQL("hashtext('historian_sample_partitions')")

_ROLLUP_COLUMNS = sql.SQL(
    "bucket, tag_id, sample_count, min, max, sum, sum_sq, first_time, first_value, last_time, last_value, bad_count"
)
_UPSERT = sql.SQL(
    " ON CONFLICT (tag_id, bucket) DO UPDATE SET sample_count = excluded.sample_count, min = excluded.min, "
    "max = excluded.max, sum = excluded.sum, sum_sq = excluded.sum_sq, first_time = excluded.first_time, "
    "first_value = excluded.first_value, last_time = excluded.last_time, last_value = excluded.last_value, "
    "bad_count = excluded.bad_count"
)
# A good sample: good quality (OPC DA major bits 11) and a finite value (NULL, NaN and infinities are not).
# Written so that it is never NULL, hence NOT good is exactly "the others".
GOOD_SAMPLE = sql.SQL(
    "((s.quality & 192) = 192 AND s.value IS NOT NULL AND s.value > '-Infinity'::float8 "
    "AND s.value < 'Infinity'::float8)"
)
# first_value / last_value without sorting: min/max over [seconds into the bucket, value] arrays compare the time
# first (times are unique per tag, so the value never decides), one pass like any aggregate. Offsets from the bucket
# start are small, so the float8 keeps every microsecond.
_FROM_RAW = sql.SQL(
    "INSERT INTO {target} ({columns}) "
    "SELECT bucket, tag_id, count(*) FILTER (WHERE good), min(value) FILTER (WHERE good), "
    "max(value) FILTER (WHERE good), sum(value) FILTER (WHERE good), sum(value * value) FILTER (WHERE good), "
    "min(time) FILTER (WHERE good), "
    "(min(ARRAY[extract(epoch FROM time - bucket)::float8, value]) FILTER (WHERE good))[2], "
    "max(time) FILTER (WHERE good), "
    "(max(ARRAY[extract(epoch FROM time - bucket)::float8, value]) FILTER (WHERE good))[2], "
    "count(*) FILTER (WHERE NOT good) "
    "FROM (SELECT date_bin({width}, s.time, {origin}) AS bucket, s.tag_id, s.time, s.value, {good} AS good "
    "FROM {source}) AS s GROUP BY bucket, tag_id"
)
_FROM_1M = sql.SQL(
    "INSERT INTO {target} ({columns}) "
    "SELECT bucket, tag_id, sum(sample_count)::bigint, min(min), max(max), sum(sum), sum(sum_sq), min(first_time), "
    "(min(ARRAY[extract(epoch FROM first_time - bucket)::float8, first_value]) FILTER (WHERE sample_count > 0))[2], "
    "max(last_time), "
    "(max(ARRAY[extract(epoch FROM last_time - bucket)::float8, last_value]) FILTER (WHERE sample_count > 0))[2], "
    "sum(bad_count)::bigint "
    "FROM (SELECT date_bin({width}, m.bucket, {origin}) AS bucket, m.tag_id, m.sample_count, m.min, m.max, m.sum, "
    "m.sum_sq, m.first_time, m.first_value, m.last_time, m.last_value, m.bad_count FROM {source}) AS m "
    "GROUP BY bucket, tag_id"
)


def _roll(template: sql.SQL, rollup: Rollup, source: sql.Composable, **extra: sql.Composable) -> sql.Composed:
    """The upsert of `rollup`'s buckets from `source` (raw samples or the finer rollup), by `template`."""
    return (
        template.format(
            target=sql.Identifier(rollup.relation),
            columns=_ROLLUP_COLUMNS,
            width=sql.Literal(rollup.width),
            origin=sql.Literal(BUCKET_ORIGIN),
            source=source,
            **extra,
        )
        + _UPSERT
    )


def _roll_from_raw(source: sql.Composable) -> sql.Composed:
    return _roll(_FROM_RAW, ROLLUP_1M, source, good=GOOD_SAMPLE)


def _roll_from_1m(source: sql.Composable) -> sql.Composed:
    return _roll(_FROM_1M, ROLLUP_1H, source)


def rollup_1m_upsert(source: sql.Composable) -> sql.Composed:
    """The statement that upserts the 1m buckets of the samples in `source` (a FROM item aliased `s`, with columns
    time, tag_id, value, quality), as the refresh computes them: e.g. a data-modifying CTE's RETURNING rows, so that a
    bulk load rolls up the rows it inserts without reading them back."""
    return _roll_from_raw(source)


def rollup_1h_upsert(source: sql.Composable) -> sql.Composed:
    """The statement that upserts the 1h buckets of the 1m rollup rows in `source` (a FROM item aliased `m`)."""
    return _roll_from_1m(source)


def late_bucket_runs(rows: Iterable[SampleRow], before: datetime) -> list[tuple[int, datetime, datetime]]:
    """(tag, first 1m bucket, last 1m bucket) runs of consecutive buckets holding the rows older than `before`."""
    buckets: dict[int, set[datetime]] = {}
    for row in rows:
        if row.time < before:
            buckets.setdefault(row.tag_id, set()).add(bucket_floor(row.time, ROLLUP_1M.width))
    runs = []
    for tag_id, tag_buckets in buckets.items():
        ordered = sorted(tag_buckets)
        first = last = ordered[0]
        for bucket in ordered[1:]:
            if bucket - last > ROLLUP_1M.width:
                runs.append((tag_id, first, last))
                first = bucket
            last = bucket
        runs.append((tag_id, first, last))
    return runs


def late_bucket_run_arrays(rows: SampleBatch, before: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`late_bucket_runs` on columns, in a few numpy operations (a replayed or backfilled batch of thousands of rows
    cost milliseconds of Python per row before): (tag_ids, first buckets, last buckets), the buckets in microseconds
    since the Unix epoch, sorted by tag and bucket."""
    late = rows.time_us < datetime_to_us(before)
    width = ROLLUP_1M.width // timedelta(microseconds=1)
    origin = datetime_to_us(BUCKET_ORIGIN)
    tags = rows.tag_id[late].astype(np.int64)
    buckets = origin + (rows.time_us[late] - origin) // width * width
    if not len(tags):
        empty = np.empty(0, dtype=np.int64)
        return empty.astype(np.int32), empty, empty
    order = np.lexsort((buckets, tags))
    tags, buckets = tags[order], buckets[order]
    # A run starts at the first row, at a new tag, or after a gap of more than one bucket.
    starts = np.ones(len(tags), dtype=bool)
    starts[1:] = (tags[1:] != tags[:-1]) | (buckets[1:] - buckets[:-1] > width)
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(tags)) - 1
    return tags[first].astype(np.int32), buckets[first], buckets[last]


def _merge_ranges(ranges: Iterable[tuple[int, datetime, datetime]]) -> list[tuple[int, datetime, datetime]]:
    """Disjoint [lo, hi) ranges per tag covering the given ones (an upsert must not touch a row twice)."""
    merged: list[tuple[int, datetime, datetime]] = []
    for tag_id, lo, hi in sorted(ranges):
        if merged and merged[-1][0] == tag_id and lo <= merged[-1][2]:
            merged[-1] = (tag_id, merged[-1][1], max(hi, merged[-1][2]))
        else:
            merged.append((tag_id, lo, hi))
    return merged


def _ranges_params(ranges: Sequence[tuple[int, datetime, datetime]]) -> list[list]:
    return [[r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]]


class PartitionedPostgresStorage(SampleStorage):
    """Daily range partitions of `historian_sample`, created by `historian_ensure_sample_partition(day)`.

    That SQL function (see migration 0002) takes an advisory lock, so concurrent workers can ask for the same day;
    rows that landed in the default partition before their day existed are moved into it.
    """

    name = "postgres"
    maintains_rollups = True

    def __init__(self) -> None:
        # Days known to have a partition, per process: a poll batch costs no extra round trip once its day exists.
        self._known_days: set[date] = set()
        self._watermark: datetime | None = None
        self._watermark_expires = 0.0

    def cache_clear(self) -> None:
        """Forget what this process remembers of the database (known partitions, the rollup watermark)."""
        self._known_days.clear()
        self._watermark = None
        self._watermark_expires = 0.0

    def days_prepared(self, days: Iterable[date]) -> bool:
        return not set(days) - self._known_days

    def prepare_days(self, cursor, days: Iterable[date]) -> None:
        missing = sorted(set(days) - self._known_days)
        for day in missing:
            cursor.execute(sql.SQL("SELECT historian_ensure_sample_partition({})").format(sql.Literal(day)))
            self._known_days.add(day)

    def create_ahead(self, cursor, *, start: datetime, days: int) -> list[str]:
        created = []
        first = start.date()
        for n in range(days + 1):
            day = first + timedelta(days=n)
            cursor.execute("SELECT to_regclass(%s) IS NULL", [f"{PARTITION_PREFIX}{day:%Y%m%d}"])
            if cursor.fetchone()[0]:
                created.append(f"{PARTITION_PREFIX}{day:%Y%m%d}")
            cursor.execute(sql.SQL("SELECT historian_ensure_sample_partition({})").format(sql.Literal(day)))
            self._known_days.add(day)
        return created

    # Rollups -----------------------------------------------------------------------------------------------------

    def rollup_watermark(self, cursor, rollup: str) -> datetime | None:
        name = rollup_named(rollup).name
        cursor.execute(
            sql.SQL("SELECT rolled_until FROM {} WHERE rollup = %s").format(sql.Identifier(STATE_TABLE)), [name]
        )
        row = cursor.fetchone()
        if row is None:
            raise LookupError(f"No state row for rollup {name!r} in {STATE_TABLE}: is the historian migrated?")
        return row[0]

    def late_rows_record(self, cursor, rows: SampleBatch) -> int:
        # The in-order path: one min() over the batch and a clock read; the watermark query runs once in a while.
        oldest = rows.oldest()
        threshold = timezone.now() - LATE_GRACE
        if oldest >= threshold:
            if monotonic_clock.monotonic() >= self._watermark_expires:
                self._watermark = self.rollup_watermark(cursor, ROLLUP_1M.name)
                self._watermark_expires = monotonic_clock.monotonic() + WATERMARK_CACHE_SECONDS
            if self._watermark is None or oldest >= self._watermark:
                return 0
            threshold = self._watermark
        elif self._watermark is not None and self._watermark > threshold:
            threshold = self._watermark
        tags, firsts, lasts = late_bucket_run_arrays(rows, threshold)
        if not len(tags):
            return 0
        # Binary parameters from a plain psycopg cursor: the writer's client-side cursor would spell thousands of
        # timestamps out as SQL literals. Microseconds travel as int8 and become times on the server.
        with psycopg.Cursor(cursor.connection) as raw:
            raw.execute(
                sql.SQL(
                    "INSERT INTO {} (tag_id, first_bucket, last_bucket) "
                    "SELECT t, to_timestamp(0) + f * interval '1 microsecond', to_timestamp(0) + l * interval "
                    "'1 microsecond' FROM unnest(%b::int4[], %b::int8[], %b::int8[]) AS u(t, f, l)"
                ).format(sql.Identifier(DIRTY_TABLE)),
                [tags.tolist(), firsts.tolist(), lasts.tolist()],
            )
        return len(tags)

    def _lock_and_state(self, cursor) -> tuple[datetime, datetime] | None:
        cursor.execute(sql.SQL("SELECT pg_try_advisory_xact_lock({})").format(ROLLUP_LOCK))
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            sql.SQL("SELECT rollup, rolled_until FROM {} WHERE rollup IN (%s, %s) FOR UPDATE").format(
                sql.Identifier(STATE_TABLE)
            ),
            [ROLLUP_1M.name, ROLLUP_1H.name],
        )
        state = dict(cursor.fetchall())
        return state[ROLLUP_1M.name], state[ROLLUP_1H.name]

    def _set_state(self, cursor, rollup: str, rolled_until: datetime) -> None:
        cursor.execute(
            sql.SQL("UPDATE {} SET rolled_until = %s WHERE rollup = %s").format(sql.Identifier(STATE_TABLE)),
            [rolled_until, rollup],
        )

    def rollups_reroll_late(self, cursor, *, max_buckets: int) -> RollupStep | None:
        state = self._lock_and_state(cursor)
        if state is None:
            return None
        until_1m, until_1h = state
        # Claim the oldest notes up to about `max_buckets` tag-minutes (at least one note), and remove them: they
        # are re-rolled in this same transaction, so a crash puts them back.
        cursor.execute(
            sql.SQL(
                "DELETE FROM {dirty} WHERE id IN (SELECT id FROM (SELECT id, sum(span) OVER (ORDER BY id) - span "
                "AS before FROM (SELECT id, extract(epoch FROM last_bucket - first_bucket) / 60 + 1 AS span "
                "FROM {dirty} ORDER BY id LIMIT %s) AS n) AS d WHERE before < %s) "
                "RETURNING tag_id, first_bucket, last_bucket"
            ).format(dirty=sql.Identifier(DIRTY_TABLE)),
            [max_buckets, max_buckets],
        )
        notes = cursor.fetchall()
        if not notes:
            return RollupStep(0, 0, 0, until_1m, until_1h, done=True)
        # Buckets at or past the watermarks are rolled by the normal advance, with the late rows in them.
        minutes = _merge_ranges(
            (tag_id, first, min(last + ROLLUP_1M.width, until_1m)) for tag_id, first, last in notes if first < until_1m
        )
        buckets_1m = buckets_1h = 0
        if minutes:
            cursor.execute(
                _roll_from_raw(
                    sql.SQL(
                        "unnest(%s::int4[], %s::timestamptz[], %s::timestamptz[]) AS d(tag_id, lo, hi) "
                        "JOIN {table} AS s ON s.tag_id = d.tag_id AND s.time >= d.lo AND s.time < d.hi"
                    ).format(table=sql.Identifier(SAMPLE_TABLE))
                ),
                _ranges_params(minutes),
            )
            buckets_1m = cursor.rowcount
            hours = _merge_ranges(
                (tag_id, bucket_floor(lo, ROLLUP_1H.width), min(_ceil_hour(hi), until_1h))
                for tag_id, lo, hi in minutes
                if lo < until_1h
            )
            if hours:
                cursor.execute(
                    _roll_from_1m(
                        sql.SQL(
                            "unnest(%s::int4[], %s::timestamptz[], %s::timestamptz[]) AS d(tag_id, lo, hi) "
                            "JOIN {table} AS m ON m.tag_id = d.tag_id AND m.bucket >= d.lo AND m.bucket < d.hi"
                        ).format(table=sql.Identifier(ROLLUP_1M.relation))
                    ),
                    _ranges_params(hours),
                )
                buckets_1h = cursor.rowcount
        return RollupStep(len(notes), buckets_1m, buckets_1h, until_1m, until_1h, done=False)

    def rollups_advance(self, cursor, *, target: datetime) -> RollupStep | None:
        state = self._lock_and_state(cursor)
        if state is None:
            return None
        until_1m, until_1h = state
        target = bucket_floor(target, ROLLUP_1M.width)
        buckets_1m = buckets_1h = 0
        if until_1m < target:
            hi = min(bucket_floor(until_1m, CHUNK) + CHUNK, target)
            cursor.execute(
                _roll_from_raw(
                    sql.SQL("{table} AS s WHERE s.time >= %s AND s.time < %s").format(
                        table=sql.Identifier(SAMPLE_TABLE)
                    )
                ),
                [until_1m, hi],
            )
            buckets_1m = cursor.rowcount
            until_1m = hi
            self._set_state(cursor, ROLLUP_1M.name, until_1m)
        complete_hours = bucket_floor(until_1m, ROLLUP_1H.width)
        if until_1h < complete_hours:
            hi = min(complete_hours, until_1h + MAX_HOURS_PER_CHUNK * ROLLUP_1H.width)
            cursor.execute(
                _roll_from_1m(
                    sql.SQL("{table} AS m WHERE m.bucket >= %s AND m.bucket < %s").format(
                        table=sql.Identifier(ROLLUP_1M.relation)
                    )
                ),
                [until_1h, hi],
            )
            buckets_1h = cursor.rowcount
            until_1h = hi
            self._set_state(cursor, ROLLUP_1H.name, until_1h)
        done = until_1m >= target and until_1h >= bucket_floor(until_1m, ROLLUP_1H.width)
        return RollupStep(0, buckets_1m, buckets_1h, until_1m, until_1h, done=done)

    # Retention ---------------------------------------------------------------------------------------------------

    def policies_sync(
        self, cursor, *, drop_after_days: int | None, chunk_hours: int, compress_after_days: int
    ) -> list[str]:
        # Nothing runs inside the database here: the Celery beat tasks apply retention.
        return []

    def partitions_drop_before(self, cursor, *, cutoff: datetime) -> list[str]:
        cutoff_day = cutoff.astimezone(UTC).date()
        cursor.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(PARTITIONS_LOCK))
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass AND c.relname ~ %s ORDER BY c.relname",
            [SAMPLE_TABLE, f"^{PARTITION_PREFIX}[0-9]{{8}}$"],
        )
        dropped = []
        for (name,) in cursor.fetchall():
            day = datetime.strptime(name.removeprefix(PARTITION_PREFIX), "%Y%m%d").date()
            # A partition holds one day: it goes when the whole day is older than the cutoff.
            if day + timedelta(days=1) <= cutoff_day:
                cursor.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                self._known_days.discard(day)
                dropped.append(name)
        # Rows of days without a partition (only ever inserted past the writer) wait in the default partition.
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE time < %s").format(sql.Identifier(SAMPLE_DEFAULT_PARTITION)),
            [datetime.combine(cutoff_day, datetime.min.time(), tzinfo=UTC)],
        )
        return dropped

    def tag_history_delete_before(self, cursor, *, tag_id: int, cutoff: datetime) -> int:
        # The rollup lock: a late-data re-roll running at the same time must not bring back the deleted buckets.
        cursor.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(ROLLUP_LOCK))
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE tag_id = %s AND time < %s").format(sql.Identifier(SAMPLE_TABLE)),
            [tag_id, cutoff],
        )
        deleted = cursor.rowcount
        for rollup in (ROLLUP_1M, ROLLUP_1H):
            cursor.execute(
                sql.SQL("DELETE FROM {} WHERE tag_id = %s AND bucket < %s").format(sql.Identifier(rollup.relation)),
                [tag_id, cutoff],
            )
        return deleted

    def rollups_delete_before(
        self, cursor, *, cutoffs: Mapping[int, datetime], other_tags_cutoff: datetime | None
    ) -> int:
        cursor.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(ROLLUP_LOCK))
        deleted = 0
        for rollup in (ROLLUP_1M, ROLLUP_1H):
            # The tags present in the rollup (a skip scan of the primary key: one descent per tag), each with its
            # cutoff; then a range delete per tag on the same index.
            cursor.execute(
                sql.SQL(
                    "WITH RECURSIVE tags(tag_id) AS ("
                    "(SELECT tag_id FROM {table} ORDER BY tag_id LIMIT 1) UNION ALL "
                    "SELECT (SELECT r.tag_id FROM {table} AS r WHERE r.tag_id > tags.tag_id ORDER BY r.tag_id LIMIT 1) "
                    "FROM tags WHERE tags.tag_id IS NOT NULL), "
                    "cut AS (SELECT tags.tag_id, coalesce(c.cutoff, %s::timestamptz) AS cutoff FROM tags "
                    "LEFT JOIN unnest(%s::int4[], %s::timestamptz[]) AS c(tag_id, cutoff) ON c.tag_id = tags.tag_id "
                    "WHERE tags.tag_id IS NOT NULL) "
                    "DELETE FROM {table} AS r USING cut WHERE r.tag_id = cut.tag_id AND r.bucket < cut.cutoff"
                ).format(table=sql.Identifier(rollup.relation)),
                [other_tags_cutoff, list(cutoffs), list(cutoffs.values())],
            )
            deleted += cursor.rowcount
        return deleted


def _ceil_hour(time: datetime) -> datetime:
    floor = bucket_floor(time, ROLLUP_1H.width)
    return floor if floor == time else floor + ROLLUP_1H.width
