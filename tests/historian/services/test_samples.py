from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
import time_machine
from django.db import connection

from historian.quality import Quality
from historian.queries.history import current_values, tag_history
from historian.sample_types import SampleBatch, SampleRow, datetime_to_us
from historian.services.samples import sample_partitions_create_ahead, samples_write_batch


def _count(tag_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM historian_sample WHERE tag_id = %s", [tag_id])
        return cursor.fetchone()[0]


def _partition_of(tag_id: int, time: datetime) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM historian_sample WHERE tag_id = %s AND time = %s",
            [tag_id, time],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def tag(machine_tags):
    return machine_tags[5]


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_batch_is_stored_and_read_back_in_order(tag, now):
    rows = [SampleRow(now - timedelta(seconds=s), tag.pk, float(s), Quality.GOOD) for s in range(100)]

    assert samples_write_batch(rows=rows) == 100

    history = tag_history(tag_ids=[tag.pk], start=now - timedelta(minutes=5), end=now + timedelta(seconds=1))
    points = history[tag.pk]
    assert len(points) == 100
    assert [p.time for p in points] == sorted(r.time for r in rows)
    assert points[-1].value == 0.0
    assert points[0].value == 99.0


def test_replayed_batch_stores_no_duplicates_and_keeps_its_new_rows(tag, now):
    first = [SampleRow(now - timedelta(seconds=s), tag.pk, 1.0, Quality.GOOD) for s in range(10)]
    samples_write_batch(rows=first)

    replay = first + [SampleRow(now + timedelta(seconds=s), tag.pk, 2.0, Quality.GOOD) for s in range(1, 6)]
    samples_write_batch(rows=replay)

    assert _count(tag.pk) == 15


def test_current_value_keeps_the_newest_and_ignores_a_late_value(tag, now):
    samples_write_batch(rows=[SampleRow(now, tag.pk, 10.0, Quality.GOOD)])
    samples_write_batch(rows=[SampleRow(now - timedelta(minutes=1), tag.pk, 5.0, Quality.GOOD)])

    current = current_values(tag_ids=[tag.pk])[tag.pk]
    assert current.value == 10.0
    assert current.time == now

    samples_write_batch(rows=[SampleRow(now + timedelta(seconds=1), tag.pk, None, Quality.BAD_COMM_FAILURE)])
    current = current_values(tag_ids=[tag.pk])[tag.pk]
    assert current.value is None
    assert current.quality == Quality.BAD_COMM_FAILURE


def test_snapshot_of_all_tags_holds_one_row_per_tag(machine_tags, now):
    rows = [SampleRow(now + timedelta(seconds=s), t.pk, float(s), Quality.GOOD) for t in machine_tags for s in (0, 1)]
    samples_write_batch(rows=rows)

    snapshot = current_values()

    assert {t.pk for t in machine_tags} <= set(snapshot)
    assert all(snapshot[t.pk].value == 1.0 for t in machine_tags)


@pytest.mark.postgres_only
def test_partitions_exist_for_the_coming_week_after_migrating(db):
    today = datetime.now(UTC).date()
    with connection.cursor() as cursor:
        for n in range(7):
            day = today + timedelta(days=n)
            cursor.execute("SELECT to_regclass(%s)", [f"historian_sample_p{day:%Y%m%d}"])
            assert cursor.fetchone()[0] is not None, f"no partition for {day}"


@pytest.mark.postgres_only
def test_partitions_are_created_ahead_by_the_maintenance_service(db):
    # A fixed clock: the days are known (a leap day among them), and midnight cannot pass between call and check.
    with time_machine.travel(datetime(2040, 2, 20, 23, 59, 59, tzinfo=UTC), tick=False):
        created = sample_partitions_create_ahead(days=20)

    days = [date(2040, 2, 20) + timedelta(days=n) for n in range(21)]
    assert days[9] == date(2040, 2, 29)
    assert created == [f"historian_sample_p{day:%Y%m%d}" for day in days]
    with connection.cursor() as cursor:
        for day in days:
            cursor.execute("SELECT to_regclass(%s)", [f"historian_sample_p{day:%Y%m%d}"])
            assert cursor.fetchone()[0] is not None, f"no partition for {day}"


@pytest.mark.postgres_only
def test_a_value_of_a_day_without_partition_gets_its_own_partition(tag):
    long_ago = datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)

    samples_write_batch(rows=[SampleRow(long_ago, tag.pk, 1.0, Quality.GOOD)])

    assert _partition_of(tag.pk, long_ago) == "historian_sample_p20190304"


@pytest.mark.postgres_only
def test_rows_caught_by_the_default_partition_move_when_their_day_is_created(tag):
    """Rows inserted past the writer (e.g. by hand) land in the default partition and are never lost."""
    day = datetime(2018, 7, 1, 12, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO historian_sample (time, tag_id, value, quality) VALUES (%s, %s, 3.0, 192)",
            [day, tag.pk],
        )
        assert _partition_of(tag.pk, day) == "historian_sample_default"
        cursor.execute("SELECT historian_ensure_sample_partition('2018-07-01')")

    assert _partition_of(tag.pk, day) == "historian_sample_p20180701"
    assert _count(tag.pk) == 1


def test_a_batch_of_columns_stores_nan_as_null_with_microseconds_and_the_newest_current_value(machine_tags, now):
    first, second = machine_tags[0], machine_tags[1]
    t = now + timedelta(microseconds=123457)
    t_us = datetime_to_us(t)
    history = SampleBatch.of(
        [t_us - 2_000_000, t_us - 1_000_000, t_us - 1_000_000],
        [first.pk, first.pk, second.pk],
        [1.5, np.nan, -2.25],
        [Quality.GOOD, Quality.BAD_COMM_FAILURE, Quality.GOOD],
    )
    current = SampleBatch.of(t_us, [first.pk, second.pk], [np.nan, 7.0], [Quality.BAD_DEVICE_FAILURE, Quality.GOOD])

    assert samples_write_batch(rows=history, current_only=current) == 3

    stored = tag_history(tag_ids=[first.pk], start=t - timedelta(seconds=5), end=t + timedelta(seconds=1))[first.pk]
    assert [(s.time, s.value, s.quality) for s in stored] == [
        (t - timedelta(seconds=2), 1.5, Quality.GOOD),
        (t - timedelta(seconds=1), None, Quality.BAD_COMM_FAILURE),
    ]
    latest = current_values(tag_ids=[first.pk, second.pk])
    assert (latest[first.pk].time, latest[first.pk].value, latest[first.pk].quality) == (
        t,
        None,
        Quality.BAD_DEVICE_FAILURE,
    )
    assert (latest[second.pk].time, latest[second.pk].value) == (t, 7.0)


def test_sample_rows_survive_the_round_trip_through_columns(now):
    rows = [
        SampleRow(now + timedelta(microseconds=i * 333), i % 3, None if i % 4 == 0 else i / 7, 192) for i in range(9)
    ]

    assert SampleBatch.from_rows(rows).rows() == rows
    latest = SampleBatch.from_rows(rows).latest_per_tag().rows()
    assert sorted(latest) == sorted(max((r for r in rows if r.tag_id == t), key=lambda r: r.time) for t in range(3))


def test_rows_become_the_same_columns_as_from_rows(now):
    from historian.services.samples import as_batch

    rows = [
        SampleRow(now, 3, 1.5, Quality.GOOD),
        SampleRow(now, 4, None, Quality.BAD),
        SampleRow(now + timedelta(microseconds=7), 3, -2, 192),
        SampleRow(now.astimezone(timezone(timedelta(hours=2))), 5, 1e300, Quality.UNCERTAIN_LAST_USABLE),
    ]
    got, expected = as_batch(iter(rows)), SampleBatch.from_rows(rows)
    for column in ("time_us", "tag_id", "value", "quality"):
        assert getattr(got, column).dtype == getattr(expected, column).dtype, column
        np.testing.assert_array_equal(getattr(got, column), getattr(expected, column), err_msg=column)
    assert len(as_batch([])) == 0


_WRITER = """
import sys
from datetime import UTC, datetime, timedelta

import django

django.setup()
from historian.sample_types import SampleRow
from historian.services.samples import samples_write_batch

tags, start = [int(t) for t in sys.argv[1].split(",")], datetime.fromisoformat(sys.argv[2])
for scan in range(100_000):
    at = start + timedelta(seconds=scan)
    samples_write_batch(rows=[SampleRow(at, tag, float(scan), 192) for tag in tags])
    print(scan, flush=True)  # acknowledged: the write returned
"""


def test_a_writer_killed_with_9_loses_no_acknowledged_value_nor_current_value_and_replays_exactly_once(
    transactional_db, machine_tags
):
    import os
    import signal
    import subprocess
    import sys

    from tests.manage_py import PROJECT_ROOT

    tags = [t.pk for t in machine_tags]
    start = datetime.now(UTC).replace(microsecond=0)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, ",".join(map(str, tags)), start.isoformat()],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdout is not None
        assert writer.stderr is not None
        acknowledged = -1
        try:
            while acknowledged < 20:
                line = writer.stdout.readline()
                assert line, writer.stderr.read()
                acknowledged = int(line)
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=30)
        for line in writer.stdout:  # acknowledged before the kill, read after it
            acknowledged = int(line)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT time), max(time) FROM historian_sample WHERE tag_id = ANY(%s)", [tags])
        scans, newest = cursor.fetchone()
    # Every acknowledged scan is stored whole; at most the one in flight also committed.
    assert acknowledged + 1 <= scans <= acknowledged + 2
    for tag in tags:
        assert _count(tag) == scans
    # No current value lags its history: each tag shows its newest stored value.
    shown = current_values(tag_ids=tags)
    assert {tag: (shown[tag].time, shown[tag].value) for tag in tags} == {
        tag: (newest, float(scans - 1)) for tag in tags
    }

    # The next writer replays the scans it cannot know were stored (all of them, here): nothing is doubled.
    replay = [
        SampleRow(start + timedelta(seconds=scan), tag, float(scan), Quality.GOOD)
        for scan in range(scans + 3)
        for tag in tags
    ]
    samples_write_batch(rows=replay)
    for tag in tags:
        assert _count(tag) == scans + 3
    shown = current_values(tag_ids=tags)
    assert {tag: shown[tag].value for tag in tags} == {tag: float(scans + 2) for tag in tags}
