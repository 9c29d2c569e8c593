"""The query benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.query import main

QUERIES = ["plot_1h", "plot_1d", "plot_30d", "plot_365d", "raw_100k", "snapshot"]


@pytest.mark.slow
def test_tiny_run_prints_a_table_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_query_{os.getpid()}"
    argv = ["--days", "2", "--fast-tags", "1", "--wide-tags", "50", "--wide-hours", "1", "--repeats", "2"]

    result, _lines = run_bench(main, [*argv, "--naive-repeats", "1"], database=database)
    assert (result["days"], result["fast_tags"], result["wide_tags"], result["database"]) == (2, 1, 50, database)
    for name in QUERIES:
        for figure in ("p50_ms", "p95_ms", "naive_p50_ms", "naive_p95_ms"):
            assert result[f"{name}_{figure}"] > 0, f"{name}_{figure}"
        assert result[f"ratio_{name}_to_naive"] > 0, name
    # Each range is read from the source the resolution rule picks (the answers were checked against raw).
    assert [result[f"plot_{span}_resolution"] for span in ("1h", "1d", "30d", "365d")] == ["raw", "raw", "1m", "1h"]
    assert result["raw_100k_points"] == 100_000
    assert result["snapshot_tags"] == 50


def test_sizes_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--days", "0"])
    assert "--days must be at least 1" in capsys.readouterr().err


def _rollup_rows(tag_ids: list[int]) -> dict[str, list[tuple]]:
    from django.db import connection
    from psycopg import sql

    rows = {}
    with connection.cursor() as cursor:
        for table in ("historian_rollup_1m", "historian_rollup_1h"):
            cursor.execute(
                sql.SQL(
                    "SELECT tag_id, bucket, sample_count, min, max, round(sum::numeric, 6), first_time, first_value, "
                    "last_time, last_value, bad_count FROM {} WHERE tag_id = ANY(%s) ORDER BY tag_id, bucket"
                ).format(sql.Identifier(table)),
                [tag_ids],
            )
            rows[table] = cursor.fetchall()
        cursor.execute("SELECT rollup, rolled_until FROM historian_rollup_state ORDER BY rollup")
        rows["state"] = cursor.fetchall()
    return rows


@pytest.mark.slow
def test_the_rollups_built_during_the_load_are_those_the_refresh_computes(transactional_db):
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from bench.common import tags_create
    from bench.query import _load, _rollups_build
    from historian.services.rollups import rollups_refresh
    from historian.storage import sample_storage
    from historian.storage.postgres import ROLLUP_LAG

    if not sample_storage().maintains_rollups:
        pytest.skip("TimescaleDB maintains its rollups itself")
    tag_ids = tags_create(21)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=1)
    _load(tag_ids[:1], tag_ids[1:], end=end, days=1, wide_hours=2, workers=2)
    _rollups_build(start, end)
    built = _rollup_rows(tag_ids)
    assert len(built["historian_rollup_1m"]) == 24 * 60 + 20 * 2 * 60
    assert len(built["historian_rollup_1h"]) >= 24

    # The same samples rolled by the project's refresh, from the oldest sample's hour, as migration 0008 does.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE historian_rollup_1m, historian_rollup_1h")
        cursor.execute("UPDATE historian_rollup_state SET rolled_until = date_trunc('hour', %s::timestamptz)", [start])
    while not (report := rollups_refresh(now=end + ROLLUP_LAG, max_chunks=100)).complete or report.busy:
        pass
    assert _rollup_rows(tag_ids) == built  # (other tests' samples may be rolled too)
