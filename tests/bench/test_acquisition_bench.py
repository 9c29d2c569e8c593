"""The acquisition benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.acquisition import main

FIGURES = [
    "values_per_s",
    "jitter_p50_ms",
    "jitter_p99_ms",
    "worker_cpu_ms_per_1000_values",
    "bare_cpu_ms_per_1000_values",
    "ratio_cpu_to_bare",
    "worker_rss_mb",
    "worker_rss_mb_per_10k_tags",
]


@pytest.mark.slow
@pytest.mark.celery
def test_tiny_modbus_run_stores_every_polled_value_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_acq_{os.getpid()}"
    # A warm-up long enough for a cold worker on a loaded machine: the measured scans must not all be late.
    argv = ["--tags", "100", "--devices", "2", "--seconds", "3", "--warmup", "4", "--bare-seconds", "1"]

    result, _lines = run_bench(main, argv, database=database)
    assert result["protocol"] == "modbus"
    assert result["tags"] == 100
    assert result["values_expected"] == result["scans_measured"] * 100
    # A poll the loaded machine ran too late is dropped as a whole (a missed scan), never half stored.
    scans_stored = result["scans_measured"] * 2 - result["scans_missed"]
    assert 0 < result["values_stored"] == scans_stored * 50
    # Errors the worker logged are reported, with their lines, not asserted: one CI rehearsal on a loaded machine
    # logged two (not reproduced since); the stored rows above are the correctness check.
    assert len(result["worker_error_lines"]) == min(result["worker_errors"], 10)
    for key in FIGURES:
        assert result[key] > 0, key
    for key in ("target_values_per_s_met", "target_jitter_p99_met", "target_cpu_ratio_met"):
        assert isinstance(result[key], bool)
