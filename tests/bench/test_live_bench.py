"""The live benchmark runs end to end at a tiny size (PLC simulator, worker, web process, clients, bare baseline)
and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.live import main


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.timeout(400)
def test_a_tiny_run_delivers_every_acquired_change_to_every_client_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_live_{os.getpid()}"
    # --drain: what the window's last changes may take to arrive on a busy machine.
    argv = ["--clients", "4", "--machines", "2", "--tags", "3", "--seconds", "4", "--drain", "8"]

    result, lines = run_bench(main, argv, database=database)
    assert any("ratio to bare" in line for line in lines)
    assert any(line.startswith("machine load:") for line in lines)
    run = result["clients"]["4"]["millwright"]
    assert run["subscribed"] == 4
    assert run["dropped"] == 0
    acquired = run["changes"] - run["not_acquired"]
    assert acquired > 0
    assert run["deliveries"] == 4 * acquired
    assert run["served_everything"] == 4
    assert run["out_of_order"] == 0
    assert run["beyond_scan_p99_ms"] is not None
    assert run["beyond_scan_p99_ms"] <= run["p99_ms"]
    bare = result["clients"]["4"]["bare"]
    assert bare["subscribed"] == 4
    assert bare["published"] >= acquired
    assert bare["deliveries"] == 4 * bare["published"]
    assert result["lost"] == {"4": 0}
    assert "4" in result["cpu_ratio_to_bare"]  # None when the baseline used too little CPU to measure


def test_bad_sizes_are_refused_with_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--tags", "1"])
    assert exc.value.code == 2
    assert "--tags must be at least 2" in capsys.readouterr().err
