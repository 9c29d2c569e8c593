"""String tags: the data type, a narrow table of text samples, and a text column on the current values.

Text never goes into `historian_sample`: that is the hot numeric table, written by binary COPY with a fixed row
shape and rolled up into numeric aggregates. Strings are few and stored on change, so their table is small: a
hypertable (7-day chunks) on TimescaleDB, a plain table on PostgreSQL, both keyed on (tag_id, time) like the
samples, which serves reads of a tag's range and idempotent replays (ON CONFLICT DO NOTHING). Retention deletes
from it by time (historian.services.retention).
"""

from django.db import migrations, models

TEXT_SAMPLE_TABLE = """
CREATE TABLE historian_text_sample (
    time timestamptz NOT NULL,
    tag_id integer NOT NULL,
    value text,
    quality smallint NOT NULL DEFAULT 192,
    CONSTRAINT historian_text_sample_pkey PRIMARY KEY (tag_id, time)
)
"""


def timescaledb_installed(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    return cursor.fetchone() is not None


def create_text_samples(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(TEXT_SAMPLE_TABLE)
        if timescaledb_installed(cursor):
            cursor.execute(
                "SELECT create_hypertable('historian_text_sample', by_range('time', INTERVAL '7 days'), "
                "create_default_indexes => false)"
            )
        # NULL for numeric tags; a string tag's value column stays NULL and its text is here.
        cursor.execute("ALTER TABLE historian_current_value ADD COLUMN text_value text")


def drop_text_samples(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("ALTER TABLE historian_current_value DROP COLUMN IF EXISTS text_value")
        cursor.execute("DROP TABLE IF EXISTS historian_text_sample")


class Migration(migrations.Migration):
    dependencies = [("historian", "0009_sparkplug")]

    operations = [
        migrations.AlterField(
            model_name="tag",
            name="address",
            field=models.CharField(
                help_text="Modbus: HR100, IR5, CO3, DI7, HR100.3 (a bit), HR200:10 (a string of 10 registers, 20 "
                "characters) or 40001",
                max_length=200,
            ),
        ),
        migrations.AlterField(
            model_name="tag",
            name="data_type",
            field=models.CharField(
                choices=[
                    ("int16", "Int16"),
                    ("uint16", "Uint16"),
                    ("int32", "Int32"),
                    ("uint32", "Uint32"),
                    ("float32", "Float32"),
                    ("float64", "Float64"),
                    ("bool", "Bool"),
                    ("string", "String"),
                ],
                default="float32",
                max_length=10,
            ),
        ),
        migrations.RunPython(create_text_samples, drop_text_samples),
    ]
