"""The predictive maintenance benchmark runs end to end at a tiny size (no database) and ends with its JSON line."""

import io
import json

import pytest

from bench.pdm import main

KEYS = {
    "lead_time_h_median",
    "baseline_lead_time_h_median",
    "false_alerts_per_machine_week",
    "missed_failures",
    "rul_rmse_h",
    "rul_within_20pct_share",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_failing_one_healthy_and_one_sensor_fault_machine_give_every_figure():
    out = io.StringIO()
    argv = ["--machines", "1", "--failures", "1", "--healthy", "1", "--faulty", "1", "--weeks", "0.1", "--seed", "3"]
    assert main(argv, out=out) == 0
    lines = out.getvalue().strip().splitlines()
    assert not any(line.lstrip().startswith("{") for line in lines[:-1])
    result = json.loads(lines[-1])
    assert set(result) >= KEYS
    assert result["millwright_failures"] == 1
    assert result["missed_failures"] in (0, 1)
    assert result["false_alerts_per_machine_week"] >= 0
    assert 0 <= result["rul_within_20pct_share"] <= 1
    assert any("detection lead time, median" in line for line in lines)
    assert any("false alerts per machine-week, sensor faults" in line for line in lines)


def test_bad_sizes_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--machines", "0"])
    assert "--machines and --failures at least 1" in capsys.readouterr().err
