"""The compression benchmark runs the demo plant through the real filter at a tiny size and ends with its JSON
line; the project's swinging door keeps its bound, the classic one is measured beside it (no timing asserted)."""

import json

import pytest

from bench.compression import main


def test_tiny_run_keeps_the_bound_and_ends_with_one_json_object(capsys):
    assert main(["--seconds", "600", "--lines", "1", "--machines", "2", "--deviation-percent", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert not any(line.lstrip().startswith("{") for line in lines[:-1])
    result = json.loads(lines[-1])
    assert result["analog_tags"] == 2 * 14
    assert result["values_polled"] == 2 * 14 * 601
    assert 0 < result["values_stored"] < result["values_polled"]
    assert result["reduction"] == pytest.approx(result["values_polled"] / result["values_stored"], rel=1e-3)
    # The promise: the stored series, interpolated linearly, within the bound of every polled value.
    assert 0 < result["max_error_over_bound"] <= 1 + 1e-9
    assert result["classic_max_error_over_bound"] > 0
    for signal in ("motor_current", "bearing_temperature", "vibration_rms"):
        assert result["per_signal"][signal]["max_error_over_bound"] <= 1 + 1e-9
    assert any(line.startswith("analog, all") for line in lines)


def test_as_configured_the_demo_stores_every_analog_poll(capsys):
    assert main(["--seconds", "60", "--lines", "1", "--machines", "1", "--deviation-percent", "0"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["values_stored"] == result["values_polled"] == 14 * 61
    assert result["reduction"] == 1
    assert result["max_error_over_bound"] is None


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--seconds", "5"])
    assert "--seconds must be at least 10" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--deviation-percent", "-1"])
    assert "cannot be negative" in capsys.readouterr().err
