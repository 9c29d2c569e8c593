"""The scale-out benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.scale import main


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.timeout(400)
def test_tiny_run_through_one_and_two_workers_measures_each_and_raw_copy(run_bench):
    database = f"test_millwright_bench_scale_{os.getpid()}"
    argv = [
        "--workers",
        "1,2",
        "--tags",
        "20",
        "--devices",
        "2",
        "--seconds",
        "3",
        "--warmup",
        "3",
        "--edge-tags",
        "15",
    ]

    result, lines = run_bench(main, argv, database=database)
    assert set(result["workers"]) == {"1", "2"}
    for phase in result["phases"]:
        # Every value stored is one the workers polled: at most one per tag and scan (no device polled twice).
        assert 0 < phase["values_stored"] <= phase["values_expected"]
        assert phase["worker_cpu_ms_per_1000_values"] > 0
        assert phase["ratio_cpu_to_copy"] > 0
    assert result["copy_rows"] == max(p["values_stored"] for p in result["phases"])
    assert result["copy_values_per_s"] > 0
    # Edge to central: the site's values went through a real publisher, broker and Sparkplug host; every one
    # stored arrived (the bench waits for them), and the figures are numbers.
    assert result["edge_tags"] == 15  # on both devices, so two machines at the central
    assert result["edge_values_stored"] > 0
    assert result["edge_values_arrived"] == result["edge_values_stored"]
    assert result["edge_errors"] == []
    for key in ("edge_to_central_values_per_s", "edge_to_central_p50_ms", "edge_to_central_p99_ms"):
        assert isinstance(result[key], float), key
        assert result[key] > 0, key
    assert any("raw COPY" in line for line in lines)


def test_worker_counts_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--workers", "0,2"])
    assert "--workers takes counts of at least 1" in capsys.readouterr().err


def test_edge_options_below_their_minimum_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--edge-tags", "0"])
    assert "--edge-tags must be at least 1" in capsys.readouterr().err
