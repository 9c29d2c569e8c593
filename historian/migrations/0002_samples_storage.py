"""The samples and current-value tables.

Decided when migrating: where the `timescaledb` extension is available, `historian_sample` becomes a hypertable;
otherwise it is range-partitioned by day, with a function that creates a day's partition on demand, a default
partition that catches anything outside the created days (so no insert can fail), and a week of partitions ahead.

One unique index on (tag_id, time) INCLUDE (value, quality) serves both reads (index-only scans of a tag's range)
and idempotent replays (ON CONFLICT DO NOTHING).
"""

from django.db import migrations

SAMPLE_COLUMNS = """
    time timestamptz NOT NULL,
    tag_id integer NOT NULL,
    value double precision,
    quality smallint NOT NULL DEFAULT 192
"""

CURRENT_VALUE_TABLE = """
CREATE TABLE historian_current_value (
    tag_id integer PRIMARY KEY,
    time timestamptz NOT NULL,
    value double precision,
    quality smallint NOT NULL
) WITH (fillfactor = 50);
"""
# fillfactor 50 leaves room on each page so that the constant updates of current values stay HOT updates.
# No foreign key to historian_tag: Django's test flush truncates tags without CASCADE, and readers join on tag.

ENSURE_PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION historian_ensure_sample_partition(p_day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := format('historian_sample_p%s', to_char(p_day, 'YYYYMMDD'));
    lo timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    stray bigint;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Serialise partition creation between workers; the second one finds the partition made.
    PERFORM pg_advisory_xact_lock(hashtext('historian_sample_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT count(*) INTO stray FROM historian_sample_default WHERE time >= lo AND time < hi;
    IF stray = 0 THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF historian_sample FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    ELSE
        -- Rows of this day arrived before its partition existed: move them out of the default partition.
        EXECUTE format('CREATE TABLE %I (LIKE historian_sample INCLUDING DEFAULTS)', part);
        EXECUTE format(
            'WITH moved AS (DELETE FROM historian_sample_default WHERE time >= $1 AND time < $2 RETURNING *) '
            'INSERT INTO %I (time, tag_id, value, quality) SELECT time, tag_id, value, quality FROM moved',
            part) USING lo, hi;
        EXECUTE format('ALTER TABLE historian_sample ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
    END IF;
    RETURN true;
END;
$$;
"""


def timescaledb_available(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    return cursor.fetchone() is not None


def create_samples_storage(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if timescaledb_available(cursor):
            cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            cursor.execute(f"CREATE TABLE historian_sample ({SAMPLE_COLUMNS})")
            cursor.execute(
                "SELECT create_hypertable('historian_sample', by_range('time', INTERVAL '1 day'), "
                "create_default_indexes => false)"
            )
        else:
            cursor.execute(f"CREATE TABLE historian_sample ({SAMPLE_COLUMNS}) PARTITION BY RANGE (time)")
            cursor.execute("CREATE TABLE historian_sample_default PARTITION OF historian_sample DEFAULT")
            cursor.execute(ENSURE_PARTITION_FUNCTION)
            cursor.execute(
                "SELECT historian_ensure_sample_partition(d::date) FROM generate_series("
                "(now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day') d"
            )
        cursor.execute(
            "CREATE UNIQUE INDEX historian_sample_tag_time ON historian_sample (tag_id, time) INCLUDE (value, quality)"
        )
        cursor.execute(CURRENT_VALUE_TABLE)


def drop_samples_storage(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS historian_current_value")
        cursor.execute("DROP TABLE IF EXISTS historian_sample CASCADE")
        cursor.execute("DROP FUNCTION IF EXISTS historian_ensure_sample_partition(date)")


class Migration(migrations.Migration):
    dependencies = [("historian", "0001_initial")]

    operations = [migrations.RunPython(create_samples_storage, drop_samples_storage)]
