"""The ingest benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.ingest import main

RATES = [
    "write_path_values_per_s",
    "raw_copy_values_per_s",
    "cv_project_rows_per_s",
    "cv_upsert_rows_per_s",
    "cv_update_rows_per_s",
    "cv_upsert_server_binding_rows_per_s",
    "cv_update_server_binding_rows_per_s",
    "cv_history_copy_rows_per_s",
    "per_row_insert_values_per_s",
    "executemany_insert_values_per_s",
    "write_path_coalesced_2_values_per_s",
    "write_path_async_commit_values_per_s",
    "write_path_coalesced_2_async_commit_values_per_s",
]
RATIOS = [
    "ratio_write_path_to_copy",
    "ratio_cv_project_to_history_copy",
    "ratio_cv_upsert_to_history_copy",
    "ratio_cv_update_to_history_copy",
    "ratio_cv_project_to_upsert",
    "ratio_per_row_insert_to_copy",
    "ratio_write_path_coalesced_2_to_copy",
    "ratio_write_path_async_commit_to_copy",
]


@pytest.mark.slow
def test_tiny_run_prints_a_table_and_ends_with_one_json_object(run_bench):
    # Its own database (dropped at the end), named per process so that concurrent test runs cannot collide.
    database = f"test_millwright_bench_{os.getpid()}"
    argv = ["--values", "20000", "--tags", "500", "--batch", "500", "--coalesce", "2", "--repeats", "2"]
    argv += ["--insert-rows", "1000"]

    result, lines = run_bench(main, argv, database=database)
    assert result["values"] == 20000
    assert result["tags"] == 500
    assert result["batch"] == 500
    assert result["coalesce"] == 2
    for key in ("wal_bytes_per_value_write_path", "wal_bytes_per_value_raw_copy"):
        assert result[key] > 0, key
    assert result["checkpoints_requested_write_path"] >= 0
    assert result["cv_rows"] == 500
    assert result["database"] == database
    for key in RATES + RATIOS:
        assert result[key] > 0, key
    assert isinstance(result["cv_update_first_beats_upsert"], bool)
    assert result["cv_fastest_strategy"] in {
        "project",
        "upsert",
        "update",
        "merge",
        "upsert_server_binding",
        "update_server_binding",
    }
    assert any("samples_write_batch" in line for line in lines[:-1])


def test_batch_larger_than_the_tags_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--tags", "10", "--batch", "20"])
    assert "--batch cannot exceed --tags" in capsys.readouterr().err
