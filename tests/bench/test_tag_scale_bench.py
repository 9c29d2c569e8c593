"""The scale-curve benchmark runs end to end at tiny sizes and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.tag_scale import main


@pytest.mark.slow
def test_tiny_run_prints_the_curve_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_tag_scale_{os.getpid()}"
    argv = ["--tags", "200,50", "--scans", "2", "--batch", "120", "--repeats", "2", "--memory-up-to", "60"]

    result, lines = run_bench(main, argv, database=database)

    assert result["tags"] == [50, 200]  # smallest first: the growth is against it
    assert set(result["ingest_values_per_s"]) == set(result["snapshot_p95_ms"]) == {"50", "200"}
    assert all(ratio > 0 for ratio in result["ingest_ratio_to_copy"].values())
    # the plot and the worker's memory only up to --memory-up-to tags
    assert set(result["plot_p95_ms"]) == set(result["worker_rss_mb_per_10k_tags"]) == {"50"}
    small, large = result["sizes"]
    assert (small["values"], large["values"]) == (100, 400)
    assert 0 < small["worker_rss_start_mb"] <= small["worker_rss_mb"]
    assert any("worker RSS MB per 10k tags" in line for line in lines)


@pytest.mark.parametrize("argv", [["--tags", "10k"], ["--tags", "0"], ["--scans", "0"]])
def test_bad_sizes_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "--" in capsys.readouterr().err
