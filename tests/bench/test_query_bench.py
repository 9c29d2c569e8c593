"""The query benchmark runs end to end at a tiny size and ends with its JSON line (no timing is asserted)."""

import os

import pytest

from bench.query import main

QUERIES = ["plot_1h", "plot_1d", "plot_30d", "plot_365d", "raw_100k", "snapshot"]


@pytest.mark.slow
def test_tiny_run_prints_a_table_and_ends_with_one_json_object(run_bench):
    database = f"test_millwright_bench_query_{os.getpid()}"
    argv = ["--days", "2", "--fast-tags", "1", "--wide-tags", "50", "--wide-hours", "1", "--repeats", "2"]

    result, _lines = run_bench(main, [*argv, "--naive-repeats", "1"], database=database)
    assert (result["days"], result["fast_tags"], result["wide_tags"], result["database"]) == (2, 1, 50, database)
    for name in QUERIES:
        for figure in ("p50_ms", "p95_ms", "naive_p50_ms", "naive_p95_ms"):
            assert result[f"{name}_{figure}"] > 0, f"{name}_{figure}"
        assert result[f"ratio_{name}_to_naive"] > 0, name
    # Each range is read from the source the resolution rule picks (the answers were checked against raw).
    assert [result[f"plot_{span}_resolution"] for span in ("1h", "1d", "30d", "365d")] == ["raw", "raw", "1m", "1h"]
    assert result["raw_100k_points"] == 100_000
    assert result["snapshot_tags"] == 50


def test_sizes_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--days", "0"])
    assert "--days must be at least 1" in capsys.readouterr().err
