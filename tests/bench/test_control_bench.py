"""The control benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.control import main


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_tiny_run_confirms_every_write_counts_the_rules_and_backtests_every_spike(run_bench):
    database = f"test_millwright_bench_control_{os.getpid()}"
    argv = ["--writes", "3", "--rules", "5", "--batches", "3", "--days", "1"]

    result, lines = run_bench(main, argv, database=database)
    assert any("ratio to bare" in line for line in lines)
    # Sparkplug B too where Mosquitto is installed.
    assert {"modbus", "opcua"} <= set(result["write_p99_ms"]) == set(result["bare_write_p99_ms"])
    assert all(w["unconfirmed"] == 0 for w in result["writes"].values())
    assert result["rules"]["rules"] == 5
    assert result["rules_cpu_share"] >= 0
    assert result["backtest"]["firings"] == result["backtest"]["firings_expected"] == 12
    assert result["backtest_30d_s"] is None  # not 30 days
