"""The alerting decision: a score held high, a RUL lower bound inside the planning horizon, and sensor faults (a stuck
value, a dropout, a drift of one signal) told apart from wear that moves several signals."""

from dataclasses import replace

import numpy as np
import pytest

from maintenance.health.alerting import (
    DROPOUT,
    STUCK,
    AlertPolicy,
    assess,
    one_signal_suspect,
    running_median,
    sensor_screen,
)
from maintenance.health.errors import HealthModelError
from maintenance.health.pca import pca_fit

SIGNALS = ("vibration_rms", "vibration_hf", "bearing_temperature", "motor_current")


def running(n: int, seed: int = 1) -> np.ndarray:
    """A machine whose load moves all four signals, with sensor noise."""
    rng = np.random.default_rng(seed)
    load = rng.normal(0.0, 1.0, n)
    noise = rng.normal(0.0, 1.0, (n, 4)) * [0.05, 0.02, 0.3, 0.3]
    return np.column_stack([2.0 + 0.4 * load, 0.5 + 0.1 * load, 40.0 + 2.0 * load, 20.0 + 1.5 * load]) + noise


@pytest.fixture(scope="module")
def model():
    return pca_fit(running(1500), SIGNALS)


def test_a_stuck_sensor_is_reconstructed_and_reported_not_scored_as_a_fault(model):
    rows = running(120, seed=2)
    rows[60:, 2] = rows[60, 2]  # bearing temperature frozen
    screened = sensor_screen(model, rows)
    assert screened.suspects == {"bearing_temperature": STUCK}
    assert screened.mask[60:, 2].all()
    assert not screened.mask[:60].any()
    assert np.mean(screened.scores.health[60:] > 1) < 0.1


def test_a_dropout_is_reconstructed_and_reported(model):
    rows = running(50, seed=3)
    rows[40:, 0] = np.nan
    screened = sensor_screen(model, rows)
    assert screened.suspects == {"vibration_rms": DROPOUT}
    assert np.isfinite(screened.scores.health).all()
    assert np.median(screened.scores.health[40:]) < 1


def test_a_drift_of_one_signal_is_a_sensor_suspect_wear_of_several_is_not(model):
    rows = running(60, seed=4)
    drift = rows.copy()
    drift[:, 2] += 8.0  # bearing temperature alone, +27σ of its noise
    drift_scores = sensor_screen(model, drift).scores
    assert np.median(drift_scores.health) > 1
    assert one_signal_suspect(model, drift_scores) == "bearing_temperature"
    wear = rows.copy()
    wear += [1.2, 0.6, 8.0, 4.0]  # a bearing going: vibration, its hf band, temperature and current together
    wear_scores = sensor_screen(model, wear).scores
    assert np.median(wear_scores.health_corroborated) > 1
    assert one_signal_suspect(model, wear_scores) is None
    assert one_signal_suspect(model, sensor_screen(model, rows).scores) is None


def series(high_from: float, *, level: float = 3.0, until: float = 10.0):
    t = np.arange(0.0, until, 1 / 60)
    c = np.where(t >= high_from, level, 0.3)
    return t, c * 1.2, c


def test_a_score_held_high_for_the_hold_time_alerts_with_its_reason():
    policy = AlertPolicy(hold_h=1.0, smoothing_h=0.25)
    t, h, c = series(8.0)
    assert not assess(policy, t, h, c, now_h=8.9).alert
    verdict = assess(policy, t, h, c, now_h=9.5)
    assert verdict.alert
    assert verdict.held_h == pytest.approx(1.5 - 0.125, abs=0.05)
    assert verdict.reasons == ("health score 3.0x its limit for 1.4 h",)
    assert verdict.rul is None


def test_a_short_burst_or_an_uncorroborated_score_does_not_alert():
    policy = AlertPolicy(hold_h=1.0, smoothing_h=0.25)
    t, h, c = series(8.0)
    c[(t >= 8.5)] = 0.3  # high for half an hour only
    assert not assess(policy, t, h, c, now_h=9.9).alert
    t, h, _c = series(5.0)
    verdict = assess(policy, t, h, np.full(t.size, 0.3), now_h=9.9)
    assert not verdict.alert
    assert verdict.health > 1 > verdict.corroborated


def test_a_rul_lower_bound_inside_the_planning_horizon_alerts_before_the_score_is_high():
    t = np.arange(0.0, 40.0, 1 / 60)
    rng = np.random.default_rng(5)
    c = 0.05 * np.exp(0.1 * t) * np.exp(rng.normal(0.0, 0.1, t.size))  # reaches 20 at 60 h, 1.0 at 30 h
    policy = AlertPolicy(planning_horizon_h=30.0, failure_threshold=20.0)
    verdict = assess(policy, t, c, c, now_h=39.9)
    assert verdict.rul is not None
    assert verdict.rul.median_h == pytest.approx(60.0 - 39.9, rel=0.15)
    assert verdict.alert
    assert any(reason.startswith("remaining useful life") for reason in verdict.reasons)
    assert not assess(AlertPolicy(planning_horizon_h=5.0, failure_threshold=20.0), t, c, c, now_h=25.0).alert


def test_running_median_ignores_nan_and_looks_back_only():
    t = np.arange(6.0)
    values = np.array([1.0, np.nan, 3.0, 100.0, 5.0, 6.0])
    np.testing.assert_allclose(running_median(t, values, 2.0), [1.0, 1.0, 3.0, 51.5, 52.5, 5.5])


def test_bad_policies_and_inputs_are_refused(model):
    with pytest.raises(HealthModelError, match="score limit"):
        AlertPolicy(score_limit=0)
    with pytest.raises(HealthModelError, match="durations"):
        AlertPolicy(hold_h=-1)
    with pytest.raises(HealthModelError, match="at least 2 readings"):
        AlertPolicy(stuck_samples=1)
    with pytest.raises(HealthModelError, match="differ in length"):
        assess(AlertPolicy(), [1.0, 2.0], [1.0], [1.0], now_h=2.0)
    with pytest.raises(HealthModelError, match="expected rows of 4 signal values"):
        sensor_screen(model, np.zeros((5, 3)))


def test_a_new_life_after_maintenance_gets_no_rul_from_its_warm_up_and_none_from_the_old_trend():
    """Before the repair the index climbed to near failure; the caller passes only the new life's scores (since the
    reset), whose first hour is a warm-up climb. No RUL and no alert until the minimum span, then none without a
    trend."""
    policy = AlertPolicy(planning_horizon_h=8.0, failure_threshold=5.0, rul_min_span_h=2.0)
    old_t = np.arange(0.0, 30.0, 1 / 60)
    old = 0.3 * np.exp(old_t / 10.0)
    assert assess(policy, old_t, old, old, now_h=29.9).alert  # the old life: RUL inside the horizon
    t = 30.0 + np.arange(0.0, 1.0, 1 / 60)
    warm = 0.3 + 0.05 * np.exp((t - 30.0) / 0.3)
    verdict = assess(policy, t, warm, warm, now_h=30.98)
    assert verdict.rul is None
    assert not verdict.alert
    assert assess(replace(policy, rul_min_span_h=0.0), t, warm, warm, now_h=30.98).alert  # without the rule
    t = 30.0 + np.arange(0.0, 6.0, 1 / 60)
    settled = np.where(t < 31.0, 0.3 + 0.05 * np.exp((t - 30.0) / 0.3), 1.6) * np.exp(
        np.random.default_rng(4).normal(0.0, 0.05, t.size)
    )
    assert assess(policy, t, settled, settled, now_h=35.9).rul is None


def test_the_rul_extrapolates_the_index_it_is_given():
    policy = AlertPolicy(planning_horizon_h=5.0, failure_threshold=1.0)
    t = np.arange(0.0, 30.0, 1 / 60)
    wear = 0.04 * np.exp(t / 10.0) - 0.04  # reaches 1 at 32.6 h
    flat = np.full(t.size, 0.3)
    verdict = assess(policy, t, flat, flat, now_h=29.9, rul_index=wear)
    assert verdict.rul is not None
    assert verdict.rul.median_h == pytest.approx(10.0 * np.log(26.0) - 29.9, rel=0.05)
    assert verdict.alert
    assert assess(policy, t, flat, flat, now_h=29.9).rul is None
    with pytest.raises(HealthModelError, match="differ in length"):
        assess(policy, t, flat, flat, now_h=29.9, rul_index=wear[:-1])


def test_a_wear_index_still_near_normal_does_not_alert_on_its_rul():
    t = np.arange(0.0, 30.0, 1 / 60)
    wear = 0.004 * np.exp(t / 10.0) - 0.004  # 0.08 of the way to failure now, however steep its trend
    flat = np.full(t.size, 0.3)
    policy = AlertPolicy(planning_horizon_h=60.0, failure_threshold=1.0, rul_min_level=0.2)
    verdict = assess(policy, t, flat, flat, now_h=29.9, rul_index=wear)
    assert verdict.rul is not None
    assert verdict.rul.low_h < 60.0
    assert not verdict.alert
    assert assess(replace(policy, rul_min_level=0.0), t, flat, flat, now_h=29.9, rul_index=wear).alert
