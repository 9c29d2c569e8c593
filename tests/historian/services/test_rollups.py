"""Plain PostgreSQL rollups: correct against Python, resumable after a crash, late rows re-rolled exactly."""

import math
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from historian.quality import Quality, quality_is_good
from historian.sample_types import SampleRow
from historian.services.rollups import rollups_refresh
from historian.services.samples import samples_write_batch
from historian.storage import ROLLUP_1H, ROLLUP_1M, bucket_floor, rollup_watermark

START = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
COLUMNS = "sample_count, min, max, sum, sum_sq, first_time, first_value, last_time, last_value, bad_count"


def _samples(tag_id: int, *, start: datetime, minutes: int, seed: int) -> list[SampleRow]:
    """Irregular samples (every 1-20 s, microseconds included) with some bad, uncertain and missing values."""
    rng = random.Random(seed)
    rows, t = [], start + timedelta(microseconds=rng.randrange(1_000_000))
    while t < start + timedelta(minutes=minutes):
        roll = rng.random()
        if roll < 0.05:
            rows.append(SampleRow(t, tag_id, None, Quality.BAD_COMM_FAILURE))
        elif roll < 0.08:
            rows.append(SampleRow(t, tag_id, rng.uniform(-5, 5), Quality.UNCERTAIN))
        elif roll < 0.09:
            rows.append(SampleRow(t, tag_id, math.nan, Quality.GOOD))
        else:
            rows.append(SampleRow(t, tag_id, rng.uniform(-100, 100), Quality.GOOD))
        t += timedelta(seconds=rng.uniform(1, 20))
    return rows


def _expected(rows: list[SampleRow], width: timedelta) -> dict[tuple[int, datetime], tuple]:
    """The rollup rows, computed in Python from the raw rows."""
    groups: dict[tuple[int, datetime], list[SampleRow]] = {}
    for row in rows:
        groups.setdefault((row.tag_id, bucket_floor(row.time, width)), []).append(row)
    expected = {}
    for key, members in groups.items():
        members.sort(key=lambda r: r.time)
        good = [r for r in members if quality_is_good(r.quality) and r.value is not None and math.isfinite(r.value)]
        values = [r.value for r in good]
        expected[key] = (
            len(good),
            min(values, default=None),
            max(values, default=None),
            math.fsum(values) if good else None,
            math.fsum(v * v for v in values) if good else None,
            good[0].time if good else None,
            good[0].value if good else None,
            good[-1].time if good else None,
            good[-1].value if good else None,
            len(members) - len(good),
        )
    return expected


def _stored(relation: str, tag_ids: set[int] | None = None) -> dict[tuple[int, datetime], tuple]:
    """The rollup's rows (of `tag_ids` only, when given: samples other tests committed are no Django model's rows,
    so a transactional test's flush leaves them, and their rollups, behind)."""
    where = "" if tag_ids is None else " WHERE tag_id = ANY(%s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tag_id, bucket, {COLUMNS} FROM {relation}{where}",  # noqa: S608 - fixed names
            [] if tag_ids is None else [sorted(tag_ids)],
        )
        return {(row[0], row[1]): tuple(row[2:]) for row in cursor.fetchall()}


def _xmins(relation: str) -> dict[tuple[int, datetime], str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tag_id, bucket, xmin::text FROM {relation}")  # noqa: S608 - fixed names
        return {(row[0], row[1]): row[2] for row in cursor.fetchall()}


def _assert_rollup(relation: str, expected: dict, *, before: datetime) -> None:
    stored = _stored(relation, {tag_id for tag_id, _ in expected})
    wanted = {key: value for key, value in expected.items() if key[1] < before}
    assert set(stored) == set(wanted)
    for key, row in wanted.items():
        got = stored[key]
        assert got[0] == row[0], key
        assert got[9] == row[9], key
        assert got[5:9] == row[5:9], key
        assert got[1:5] == pytest.approx(row[1:5], rel=1e-12, abs=1e-9), key


@pytest.fixture
def two_tags_rolled(postgres_storage, rolled_from) -> list[SampleRow]:
    """2 tags x 150 minutes of samples from START, the watermarks at START."""
    rolled_from(START)
    rows = _samples(1001, start=START, minutes=150, seed=1) + _samples(1002, start=START, minutes=150, seed=2)
    samples_write_batch(rows=rows)
    return rows


def test_refresh_rolls_samples_into_1m_and_1h_buckets_equal_to_python(two_tags_rolled):
    report = rollups_refresh(now=START + timedelta(hours=3))

    target = START + timedelta(hours=3) - timedelta(minutes=2)
    assert report.complete
    assert not report.busy
    assert (report.rolled_until_1m, report.rolled_until_1h) == (target, START + timedelta(hours=2))
    _assert_rollup(ROLLUP_1M.relation, _expected(two_tags_rolled, ROLLUP_1M.width), before=target)
    # The hour 12:00-13:00 is not complete in the 1m rollup yet, so the 1h rollup stops before it.
    _assert_rollup(ROLLUP_1H.relation, _expected(two_tags_rolled, ROLLUP_1H.width), before=START + timedelta(hours=2))
    with connection.cursor() as cursor:
        assert rollup_watermark(cursor, "1m") == target
        assert rollup_watermark(cursor, "historian_rollup_1h") == START + timedelta(hours=2)


def test_bucket_of_only_bad_samples_has_a_row_with_no_statistics(postgres_storage, rolled_from):
    rolled_from(START)
    samples_write_batch(rows=[SampleRow(START + timedelta(seconds=5), 1003, None, Quality.BAD_COMM_FAILURE)])

    rollups_refresh(now=START + timedelta(hours=2))

    assert _stored(ROLLUP_1M.relation) == {(1003, START): (0, None, None, None, None, None, None, None, None, 1)}
    assert _stored(ROLLUP_1H.relation) == {(1003, START): (0, None, None, None, None, None, None, None, None, 1)}


def test_refresh_stops_after_max_chunks_and_the_next_run_goes_on(two_tags_rolled):
    first = rollups_refresh(now=START + timedelta(hours=3), max_chunks=1)

    assert not first.complete
    with connection.cursor() as cursor:
        assert rollup_watermark(cursor, "1m") == START + timedelta(hours=1)
        assert rollup_watermark(cursor, "1h") == START + timedelta(hours=1)
    assert max(bucket for _, bucket in _stored(ROLLUP_1M.relation)) < START + timedelta(hours=1)

    rollups_refresh(now=START + timedelta(hours=3))

    _assert_rollup(ROLLUP_1M.relation, _expected(two_tags_rolled, ROLLUP_1M.width), before=START + timedelta(hours=3))


def test_refresh_that_fails_mid_way_keeps_the_chunks_before_and_resumes_at_the_failed_one(two_tags_rolled):
    # A real failure inside the second chunk's transaction: a trigger refusing one of its buckets.
    failing_bucket = START + timedelta(hours=1, minutes=30)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse_bucket() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.bucket = '{failing_bucket.isoformat()}' THEN RAISE EXCEPTION 'disk full'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_bucket BEFORE INSERT ON historian_rollup_1m "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_bucket()"
        )

    with pytest.raises(psycopg.errors.RaiseException, match="disk full"):
        rollups_refresh(now=START + timedelta(hours=3))

    with connection.cursor() as cursor:
        assert rollup_watermark(cursor, "1m") == START + timedelta(hours=1)
        assert rollup_watermark(cursor, "1h") == START + timedelta(hours=1)
    assert all(bucket < START + timedelta(hours=1) for _, bucket in _stored(ROLLUP_1M.relation))

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_bucket ON historian_rollup_1m")
    report = rollups_refresh(now=START + timedelta(hours=3))

    assert report.complete
    _assert_rollup(ROLLUP_1M.relation, _expected(two_tags_rolled, ROLLUP_1M.width), before=report.rolled_until_1m)
    _assert_rollup(ROLLUP_1H.relation, _expected(two_tags_rolled, ROLLUP_1H.width), before=report.rolled_until_1h)


def test_late_rows_re_roll_exactly_the_buckets_they_touch(two_tags_rolled):
    rollups_refresh(now=START + timedelta(hours=3))
    before_1m, before_1h = _xmins(ROLLUP_1M.relation), _xmins(ROLLUP_1H.relation)
    late = [
        SampleRow(START + timedelta(minutes=15, seconds=30, microseconds=7), 1001, 1e6, Quality.GOOD),
        SampleRow(START + timedelta(minutes=16, seconds=59), 1001, -1e6, Quality.GOOD),
        SampleRow(START + timedelta(minutes=100, seconds=1), 1001, None, Quality.BAD_NOT_CONNECTED),
    ]

    samples_write_batch(rows=late)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tag_id, first_bucket, last_bucket FROM historian_rollup_dirty ORDER BY first_bucket")
        assert cursor.fetchall() == [
            (1001, START + timedelta(minutes=15), START + timedelta(minutes=16)),
            (1001, START + timedelta(minutes=100), START + timedelta(minutes=100)),
        ]
    report = rollups_refresh(now=START + timedelta(hours=3))

    assert report.late_ranges == 2
    touched_1m = {(1001, START + timedelta(minutes=m)) for m in (15, 16, 100)}
    touched_1h = {(1001, START), (1001, START + timedelta(hours=1))}
    after_1m, after_1h = _xmins(ROLLUP_1M.relation), _xmins(ROLLUP_1H.relation)
    assert {key for key in after_1m if after_1m[key] != before_1m[key]} == touched_1m
    assert {key for key in after_1h if after_1h[key] != before_1h[key]} == touched_1h
    everything = two_tags_rolled + late
    _assert_rollup(ROLLUP_1M.relation, _expected(everything, ROLLUP_1M.width), before=report.rolled_until_1m)
    _assert_rollup(ROLLUP_1H.relation, _expected(everything, ROLLUP_1H.width), before=report.rolled_until_1h)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM historian_rollup_dirty")
        assert cursor.fetchone()[0] == 0


def test_in_order_rows_are_not_noted_as_late(postgres_storage, rolled_from):
    now = datetime.now(UTC)
    rolled_from(bucket_floor(now, ROLLUP_1H.width) - timedelta(hours=1))

    samples_write_batch(rows=[SampleRow(now - timedelta(seconds=s), 1004, 1.0, Quality.GOOD) for s in range(10)])

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM historian_rollup_dirty")
        assert cursor.fetchone()[0] == 0


def test_rows_behind_a_watermark_moved_ahead_of_the_clock_are_noted(postgres_storage, rolled_from):
    now = datetime.now(UTC)
    rolled_from(bucket_floor(now, ROLLUP_1H.width) + timedelta(hours=2))

    samples_write_batch(rows=[SampleRow(now, 1005, 1.0, Quality.GOOD)])

    with connection.cursor() as cursor:
        cursor.execute("SELECT tag_id, first_bucket FROM historian_rollup_dirty")
        assert cursor.fetchall() == [(1005, bucket_floor(now, ROLLUP_1M.width))]


def test_watermark_of_an_unknown_rollup_is_refused(db):
    with connection.cursor() as cursor, pytest.raises(ValueError, match="Unknown rollup '5m'"):
        rollup_watermark(cursor, "5m")
