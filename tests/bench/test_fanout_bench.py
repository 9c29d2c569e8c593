"""The fan-out benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.fanout import main


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_tiny_run_serves_every_client_against_its_baseline_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_fanout_{os.getpid()}"
    argv = ["--clients", "4", "--machines", "2", "--tags", "3", "--rate", "8", "--seconds", "1", "--drain", "1"]

    result, lines = run_bench(main, argv, database=database)
    assert any("ratio to bare" in line for line in lines)
    for kind in ("millwright", "bare"):
        run = result["clients"]["4"][kind]
        assert run["subscribed"] == 4
        assert run["served_everything"] == 4
        assert run["deliveries"] == 4 * run["published"]
    assert result["lost"] == {"4": 0}
    assert result["dropped"] == {"4": 0}
    assert "4" in result["cpu_ratio_to_bare"]  # None when the baseline used too little CPU to measure


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_web_process_serves_a_thousand_signed_in_sockets_at_a_small_message_rate(run_bench):
    """Issue 17: one web process once served 100 sockets (each one's blocking receive held a pooled Redis
    connection) and closed the rest. A thousand signed-in clients (in four processes) open /ws/page/ at once,
    subscribe as the plant overview does, and every one of them receives every batch published."""
    database = f"test_millwright_bench_fanout_k_{os.getpid()}"
    argv = [
        "--clients", "1000", "--machines", "2", "--tags", "3", "--rate", "2", "--seconds", "3", "--drain", "30",
        "--no-baseline",
    ]  # fmt: skip

    result, _ = run_bench(main, argv, database=database)
    run = result["clients"]["1000"]["millwright"]
    assert run["subscribed"] == 1000
    assert result["dropped"] == {"1000": 0}
    assert result["lost"] == {"1000": 0}
    assert run["served_everything"] == 1000
    assert run["deliveries"] == 1000 * run["published"] > 0
