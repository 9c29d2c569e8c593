"""The failover benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import json
import os

import pytest

from bench.failover import main


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.timeout(300)
def test_one_kill_round_measures_a_marked_gap_and_ends_with_one_json_object(django_db_blocker, capsys):
    database = f"test_millwright_bench_failover_{os.getpid()}"
    argv = ["--rounds", "1", "--tags", "3", "--no-baseline", "--settle", "0.5"]

    with django_db_blocker.unblock():
        assert main([*argv, "--database-name", database]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert not any(line.lstrip().startswith("{") for line in lines[:-1])
    assert any("round 1: device" in line for line in lines)
    assert result["kill9_gap_s"] > 0
    assert result["kill9_all_marked"] is True
    assert result["baseline_kill9_gap_s"] is None
    assert isinstance(result["target_gap_met"], bool)
