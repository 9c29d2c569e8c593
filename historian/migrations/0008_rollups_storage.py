"""Rollups (1 minute, 1 hour) of the samples, and what retention and compression need.

Decided like 0002 by the `timescaledb` extension (installed by 0002 where available):

- TimescaleDB: compression of the hypertable segmented by tag and ordered by time (the unique index on
  (tag_id, time) requires both columns among the segmenting / ordering ones) with a compression policy, and the
  rollups as continuous aggregates with real-time aggregation and refresh policies (the 1-hour one built on the
  1-minute one where TimescaleDB supports hierarchical aggregates, 2.9+). Retention policies are set by
  historian.services.retention from the settings.
- Plain PostgreSQL: rollup tables with a covering primary key, the fill state the refresh resumes from, the table
  of late-written ranges to re-roll, and BRIN indexes on time, which let the refresh read one chunk of time over all
  tags (the (tag_id, time) index cannot) at almost no cost for in-order data.

See historian/storage/base.py for the meaning of the rollup columns.
"""

from django.db import migrations

ROLLUP_TABLE = """
CREATE TABLE {name} (
    bucket timestamptz NOT NULL,
    tag_id integer NOT NULL,
    sample_count bigint NOT NULL,
    min double precision,
    max double precision,
    sum double precision,
    sum_sq double precision,
    first_time timestamptz,
    first_value double precision,
    last_time timestamptz,
    last_value double precision,
    bad_count bigint NOT NULL,
    -- Covering: a query over one tag's range is an index-only scan, with no visit to the table's pages (rows of a
    -- tag are spread over the table, one per bucket among all the tags' rows).
    CONSTRAINT {name}_pkey PRIMARY KEY (tag_id, bucket)
        INCLUDE (sample_count, min, max, sum, sum_sq, first_time, first_value, last_time, last_value, bad_count)
)
"""

POSTGRES_UP = [
    "CREATE INDEX historian_sample_time_brin ON historian_sample USING brin (time) WITH (pages_per_range = 32)",
    ROLLUP_TABLE.format(name="historian_rollup_1m"),
    ROLLUP_TABLE.format(name="historian_rollup_1h"),
    # The refresh rolls 1h buckets from a time range of 1m rows; retention deletes by time.
    "CREATE INDEX historian_rollup_1m_bucket_brin ON historian_rollup_1m USING brin (bucket)",
    "CREATE INDEX historian_rollup_1h_bucket_brin ON historian_rollup_1h USING brin (bucket)",
    """
    CREATE TABLE historian_rollup_state (
        rollup text PRIMARY KEY,
        rolled_until timestamptz NOT NULL
    )
    """,
    # Existing samples are rolled from the hour of the oldest; a new install starts at the current hour.
    """
    INSERT INTO historian_rollup_state (rollup, rolled_until)
    SELECT r, date_bin('1 hour', coalesce((SELECT min(time) FROM historian_sample), now()),
                       TIMESTAMPTZ '2000-01-01 00:00:00+00')
    FROM unnest(ARRAY['1m', '1h']) AS r
    """,
    """
    CREATE TABLE historian_rollup_dirty (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tag_id integer NOT NULL,
        first_bucket timestamptz NOT NULL,
        last_bucket timestamptz NOT NULL,
        CHECK (first_bucket <= last_bucket)
    )
    """,
]

POSTGRES_DOWN = [
    "DROP TABLE IF EXISTS historian_rollup_dirty",
    "DROP TABLE IF EXISTS historian_rollup_state",
    "DROP TABLE IF EXISTS historian_rollup_1h",
    "DROP TABLE IF EXISTS historian_rollup_1m",
    "DROP INDEX IF EXISTS historian_sample_time_brin",
]

# Good sample: good quality (OPC DA major bits 11) and a finite value; never NULL, so NOT good is "the others".
GOOD = (
    "((quality & 192) = 192 AND value IS NOT NULL AND value > '-Infinity'::float8 AND value < 'Infinity'::float8)"
)

CAGG_1M = f"""
CREATE MATERIALIZED VIEW historian_rollup_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       tag_id,
       count(*) FILTER (WHERE {GOOD}) AS sample_count,
       min(value) FILTER (WHERE {GOOD}) AS min,
       max(value) FILTER (WHERE {GOOD}) AS max,
       sum(value) FILTER (WHERE {GOOD}) AS sum,
       sum(value * value) FILTER (WHERE {GOOD}) AS sum_sq,
       min(time) FILTER (WHERE {GOOD}) AS first_time,
       first(value, time) FILTER (WHERE {GOOD}) AS first_value,
       max(time) FILTER (WHERE {GOOD}) AS last_time,
       last(value, time) FILTER (WHERE {GOOD}) AS last_value,
       count(*) FILTER (WHERE NOT {GOOD}) AS bad_count
FROM historian_sample
GROUP BY time_bucket(INTERVAL '1 minute', time), tag_id
WITH NO DATA
"""

CAGG_1H_HIERARCHICAL = """
CREATE MATERIALIZED VIEW historian_rollup_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       tag_id,
       sum(sample_count)::bigint AS sample_count,
       min(min) AS min,
       max(max) AS max,
       sum(sum) AS sum,
       sum(sum_sq) AS sum_sq,
       min(first_time) AS first_time,
       first(first_value, first_time) FILTER (WHERE sample_count > 0) AS first_value,
       max(last_time) AS last_time,
       last(last_value, last_time) FILTER (WHERE sample_count > 0) AS last_value,
       sum(bad_count)::bigint AS bad_count
FROM historian_rollup_1m
GROUP BY time_bucket(INTERVAL '1 hour', bucket), tag_id
WITH NO DATA
"""

CAGG_1H_FROM_RAW = CAGG_1M.replace("INTERVAL '1 minute'", "INTERVAL '1 hour'").replace(
    "historian_rollup_1m", "historian_rollup_1h"
)

TIMESCALE_UP = [
    "ALTER TABLE historian_sample SET (timescaledb.compress, timescaledb.compress_segmentby = 'tag_id', "
    "timescaledb.compress_orderby = 'time')",
    # 7 days: the default of HistorianSettings.compress_after_days (retention_apply re-sets it from the settings).
    "SELECT add_compression_policy('historian_sample', compress_after => INTERVAL '7 days')",
]

# start_offset NULL: the refresh window reaches back to the oldest data, so the buckets of rows written late (at any
# age) are re-aggregated by the next run (TimescaleDB refreshes only the invalidated or new ranges of the window).
# end_offset: the bucket in progress is left to real-time aggregation.
REFRESH_POLICIES = [
    "SELECT add_continuous_aggregate_policy('historian_rollup_1m', start_offset => NULL, "
    "end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute')",
    "SELECT add_continuous_aggregate_policy('historian_rollup_1h', start_offset => NULL, "
    "end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes')",
]

TIMESCALE_DOWN = [
    "DROP MATERIALIZED VIEW IF EXISTS historian_rollup_1h",
    "DROP MATERIALIZED VIEW IF EXISTS historian_rollup_1m",
    "SELECT remove_retention_policy('historian_sample', if_exists => true)",
    "SELECT remove_compression_policy('historian_sample', if_exists => true)",
    "SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('historian_sample') AS c",
    "ALTER TABLE historian_sample SET (timescaledb.compress = false)",
]


def timescaledb_version(cursor) -> tuple[int, ...] | None:
    cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    row = cursor.fetchone()
    if row is None:
        return None
    return tuple(int(part) for part in row[0].split("-")[0].split(".")[:2])


def create_rollups(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        version = timescaledb_version(cursor)
        if version is None:
            statements = POSTGRES_UP
        else:
            hierarchical = version >= (2, 9)
            statements = [*TIMESCALE_UP, CAGG_1M, CAGG_1H_HIERARCHICAL if hierarchical else CAGG_1H_FROM_RAW]
            statements += REFRESH_POLICIES
        for statement in statements:
            cursor.execute(statement)


def drop_rollups(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        statements = POSTGRES_DOWN if timescaledb_version(cursor) is None else TIMESCALE_DOWN
        for statement in statements:
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("historian", "0007_retention_settings")]

    operations = [migrations.RunPython(create_rollups, drop_rollups)]
