"""The journal table: append-only in the database, partitioned by month, old months dropped by retention only."""

from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from alarms.models import JournalEntry
from alarms.services.journal import (
    JournalPartitions,
    journal_partitions_create_ahead,
    journal_retention_apply,
    journal_write,
)


def entry(time: datetime, **fields) -> JournalEntry:
    base = dict(
        alarm_id=1, event="activate", state="unack_active", previous_state="normal", value=1.0, priority="high",
        alarm_name="a", tag_path="t", area_id=1, line_id=1, machine_id=1,
    )  # fmt: skip
    return JournalEntry(time=time, **(base | fields))


def partition_of(entry_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM alarms_journal WHERE id = %s", [entry_id])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_entries_land_in_the_partition_of_their_month():
    now = datetime.now(UTC)
    journal_write(entries=[entry(now)])
    written = JournalEntry.objects.get()
    assert partition_of(written.pk) == f"alarms_journal_p{now:%Y%m}"


@pytest.mark.django_db
def test_a_writer_asks_for_a_months_partition_once():
    def asks(**write) -> int:
        with CaptureQueriesContext(connection) as queries:
            journal_write(**write)
        return sum("alarms_ensure_journal_partition" in q["sql"] for q in queries.captured_queries)

    partitions = JournalPartitions()

    assert asks(entries=[entry(datetime(2032, 5, 1, tzinfo=UTC))], partitions=partitions) == 1
    assert asks(entries=[entry(datetime(2032, 5, 2, tzinfo=UTC))], partitions=partitions) == 0
    assert asks(entries=[entry(datetime(2032, 5, 3, tzinfo=UTC))]) == 1  # a one-off write asks
    assert {partition_of(e.pk) for e in JournalEntry.objects.all()} == {"alarms_journal_p203205"}


@pytest.mark.django_db
def test_a_month_far_ahead_gets_its_partition_when_written():
    journal_write(entries=[entry(datetime(2031, 7, 4, tzinfo=UTC))])
    assert partition_of(JournalEntry.objects.get().pk) == "alarms_journal_p203107"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    ["UPDATE alarms_journal SET comment = 'rewritten'", "DELETE FROM alarms_journal"],
)
def test_the_journal_refuses_updates_and_deletes(statement):
    journal_write(entries=[entry(datetime.now(UTC))])
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.cursor.execute(statement)
    assert JournalEntry.objects.get().comment == ""


@pytest.mark.django_db
def test_rows_that_reached_the_default_partition_move_into_their_month_when_it_is_created():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO alarms_journal (time, alarm_id, event, state, previous_state, priority, alarm_name, tag_path,"
            " area_id, line_id, machine_id) VALUES ('2033-02-03T04:05:06Z', 1, 'activate', 'unack_active', 'normal',"
            " 'low', 'a', 't', 1, 1, 1) RETURNING id"
        )
        entry_id = cursor.fetchone()[0]
    assert partition_of(entry_id) == "alarms_journal_default"

    journal_partitions_create_ahead(now=datetime(2033, 1, 15, tzinfo=UTC), months=2)

    assert partition_of(entry_id) == "alarms_journal_p203302"


@pytest.mark.django_db
def test_retention_drops_whole_old_months_only():
    journal_write(entries=[entry(datetime(2020, 1, 5, tzinfo=UTC)), entry(datetime(2020, 3, 5, tzinfo=UTC))])

    dropped = journal_retention_apply(now=datetime(2020, 4, 20, tzinfo=UTC), keep_months=2)

    assert "alarms_journal_p202001" in dropped
    assert "alarms_journal_p202003" not in dropped
    assert [e.time.month for e in JournalEntry.objects.all()] == [3]
    with pytest.raises(ValueError, match="at least 1"):
        journal_retention_apply(now=datetime(2020, 4, 20, tzinfo=UTC), keep_months=0)
