"""The OPC UA acquisition benchmark runs end to end at a tiny size and ends with its JSON line (no timing asserted)."""

import os

import pytest

from bench.acquisition_opcua import main


@pytest.mark.slow
def test_tiny_run_prints_a_table_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_opcua_bench_{os.getpid()}"
    result, lines = run_bench(main, ["--values", "50", "--seconds", "2", "--reads", "2"], database=database)

    assert lines[0].startswith("Millwright OPC UA acquisition benchmark: 50 subscribed values")
    assert result["values"] == 50
    assert result["baseline_notifications_per_s"] > 0
    assert result["project_readings_per_s"] > 0
    assert result["project_rows_per_s"] > 0
    assert result["polled_read_ms_median"] > 0
