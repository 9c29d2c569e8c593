"""The failover benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.failover import main


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.celery
@pytest.mark.timeout(300)
def test_one_kill_round_measures_a_marked_gap_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_failover_{os.getpid()}"
    argv = ["--rounds", "1", "--tags", "3", "--no-baseline", "--settle", "0.5"]

    result, lines = run_bench(main, argv, database=database)
    assert any("round 1: device" in line for line in lines)
    assert result["kill9_gap_s"] > 0
    assert result["kill9_all_marked"] is True
    assert result["baseline_kill9_gap_s"] is None
    assert isinstance(result["target_gap_met"], bool)
