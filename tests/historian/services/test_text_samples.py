"""The text samples table of string tags, on both backends: its layout, and retention trimming it."""

from datetime import UTC, datetime, timedelta

from django.db import connection

from historian.models import HistorianSettings
from historian.quality import Quality
from historian.sample_types import TextSampleRow
from historian.services.retention import retention_apply
from historian.services.text_samples import text_samples_write_batch
from historian.storage import sample_storage


def _fetch(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def test_the_text_table_is_keyed_on_tag_and_time(db):
    [(definition,)] = _fetch(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'historian_text_sample'::regclass "
        "AND contype = 'p'"
    )
    assert definition == 'PRIMARY KEY (tag_id, "time")'
    columns = _fetch(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'historian_text_sample' "
        "ORDER BY ordinal_position"
    )
    assert columns == [
        ("time", "timestamp with time zone"),
        ("tag_id", "integer"),
        ("value", "text"),
        ("quality", "smallint"),
    ]


def test_the_text_table_is_a_hypertable_on_timescaledb_and_plain_on_postgresql(db):
    hypertable = sample_storage().name == "timescaledb"
    if hypertable:
        assert _fetch(
            "SELECT column_name FROM timescaledb_information.dimensions WHERE hypertable_name = 'historian_text_sample'"
        ) == [("time",)]
    else:
        assert _fetch("SELECT relkind FROM pg_class WHERE relname = 'historian_text_sample'") == [("r",)]


def test_retention_trims_string_tags_like_the_others(db, make_tag):
    settings = HistorianSettings.load()
    settings.default_retention_days = 30
    settings.save()
    short = make_tag(data_type="string", retention_days=5)
    default = make_tag(data_type="string")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    text_samples_write_batch(
        rows=[
            TextSampleRow(now - timedelta(days=days), tag.pk, f"{days} days ago", Quality.GOOD)
            for tag in (short, default)
            for days in (40, 10, 2)
        ]
    )

    report = retention_apply(now=now)

    def kept(tag) -> list[str]:
        rows = _fetch("SELECT value FROM historian_text_sample WHERE tag_id = %s ORDER BY time", [tag.pk])
        return [row[0] for row in rows]

    assert kept(short) == ["2 days ago"]
    assert kept(default) == ["10 days ago", "2 days ago"]
    assert report.text_samples_deleted == 3


def test_without_a_retention_text_samples_are_kept(db, make_tag):
    tag = make_tag(data_type="string")
    old = datetime(2020, 1, 1, tzinfo=UTC)
    text_samples_write_batch(rows=[TextSampleRow(old, tag.pk, "old", Quality.GOOD)])
    assert retention_apply().text_samples_deleted == 0
    assert _fetch("SELECT value FROM historian_text_sample WHERE tag_id = %s", [tag.pk]) == [("old",)]
