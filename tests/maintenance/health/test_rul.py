"""Remaining useful life on a known exponential trend, and no estimate where there is no trend."""

import math

import numpy as np
import pytest

from maintenance.health.errors import HealthModelError
from maintenance.health.rul import rul_estimate


def exponential(now_h: float, *, rate: float = 0.05, noise: float = 0.1, seed: int = 1):
    """h = 0.2 exp(rate t) with multiplicative noise, sampled every 6 minutes up to now: crosses 10 at ln(50)/rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, now_h, 0.1)
    return t, 0.2 * np.exp(rate * t) * np.exp(rng.normal(0.0, noise, t.size))


TRUE_FAILURE_H = math.log(50.0) / 0.05  # 78.2 h


@pytest.mark.parametrize("now_h", [40.0, 60.0, 75.0])
def test_rul_on_a_known_exponential_trend_is_close_and_its_interval_holds_the_truth(now_h):
    truth = TRUE_FAILURE_H - now_h
    held = 0
    for seed in range(1, 11):
        t, h = exponential(now_h, seed=seed)
        estimate = rul_estimate(t, h, failure_threshold=10.0, now_h=now_h)
        assert estimate is not None
        assert estimate.median_h == pytest.approx(truth, rel=0.1, abs=0.5)
        assert estimate.low_h < estimate.median_h < estimate.high_h
        assert estimate.rate_per_h == pytest.approx(0.05, rel=0.15)
        assert estimate.to_json()["confidence"] == 0.9
        held += estimate.low_h <= truth <= estimate.high_h
    assert held >= 7  # a 90 % interval: about 9 in 10 noise draws


def test_a_wider_confidence_gives_a_wider_interval():
    t, h = exponential(50.0)
    narrow = rul_estimate(t, h, failure_threshold=10.0, now_h=50.0, confidence=0.5)
    wide = rul_estimate(t, h, failure_threshold=10.0, now_h=50.0, confidence=0.95)
    assert narrow is not None
    assert wide is not None
    assert wide.low_h < narrow.low_h <= narrow.high_h < wide.high_h


def test_recent_behaviour_counts_most_a_long_flat_start_does_not_hide_a_late_rise():
    t = np.arange(0.0, 100.0, 0.1)
    rng = np.random.default_rng(2)
    h = np.where(t < 80, 0.3, 0.3 * np.exp(0.1 * (t - 80))) * np.exp(rng.normal(0.0, 0.05, t.size))
    weighted = rul_estimate(t, h, failure_threshold=0.3 * math.exp(3.0), now_h=100.0, window_h=30.0)
    uniform = rul_estimate(t, h, failure_threshold=0.3 * math.exp(3.0), now_h=100.0, window_h=30.0, half_life_h=1e9)
    assert weighted is not None
    assert uniform is not None
    assert abs(weighted.median_h - 10.0) < abs(uniform.median_h - 10.0)
    assert weighted.median_h == pytest.approx(10.0, rel=0.4)


def test_no_trend_gives_no_estimate():
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 50.0, 0.1)
    assert rul_estimate(t, 0.3 * np.exp(rng.normal(0, 0.3, t.size)), failure_threshold=10.0, now_h=50.0) is None
    falling = 5.0 * np.exp(-0.05 * t)
    assert rul_estimate(t, falling, failure_threshold=10.0, now_h=50.0) is None
    assert rul_estimate(t[:3], falling[:3], failure_threshold=10.0, now_h=50.0) is None


def test_at_the_threshold_the_rul_is_zero_and_future_points_are_ignored():
    t, h = exponential(90.0)
    estimate = rul_estimate(t, h, failure_threshold=10.0, now_h=85.0)
    assert estimate is not None
    assert estimate.median_h == estimate.low_h == 0.0


def test_nan_points_are_skipped():
    t, h = exponential(60.0)
    h[::7] = np.nan
    estimate = rul_estimate(t, h, failure_threshold=10.0, now_h=60.0)
    assert estimate is not None
    assert estimate.median_h == pytest.approx(TRUE_FAILURE_H - 60.0, rel=0.1)


def test_bad_arguments_are_refused():
    with pytest.raises(HealthModelError, match="differ in length: 3 and 2"):
        rul_estimate([1, 2, 3], [1, 2], failure_threshold=1.0, now_h=3)
    with pytest.raises(HealthModelError, match="failure threshold must be a positive number"):
        rul_estimate([1, 2, 3], [1, 2, 3], failure_threshold=0.0, now_h=3)
    with pytest.raises(HealthModelError, match="confidence"):
        rul_estimate([1, 2, 3], [1, 2, 3], failure_threshold=1.0, now_h=3, confidence=1.0)


def test_rul_over_a_noise_floor_extrapolates_the_wear_not_the_noise():
    """A wear index around 0 in normal running (additive noise) then 0.04 exp(t / 10): reaches 1 at 10 ln 25."""
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 28.0, 1 / 60)
    h = 0.04 * np.exp(t / 10.0) - 0.04 + rng.normal(0.0, 0.02, t.size)
    estimate = rul_estimate(t, h, failure_threshold=1.0, now_h=28.0, additive=True)
    assert estimate is not None
    truth = 10.0 * math.log(1.04 / 0.04) - 28.0  # 4.58 h
    assert estimate.median_h == pytest.approx(truth, rel=0.2)
    assert estimate.low_h <= truth <= estimate.high_h
    assert estimate.rate_per_h == pytest.approx(0.1, rel=0.2)


def test_a_short_rise_right_after_a_repair_is_no_trend():
    """After maintenance the machine starts cold and warms up: over the first hour of the new life (all the scores a
    re-baselined model has) its index climbs steeply. That is no wear trend: no RUL before the minimum span."""
    t = np.arange(0.0, 1.0, 1 / 60)
    h = 0.3 + 0.05 * np.exp(t / 0.3)
    assert rul_estimate(t, h, failure_threshold=2.5, now_h=1.0, min_span_h=2.0) is None
    assert rul_estimate(t, h, failure_threshold=2.5, now_h=1.0, min_span_h=0.0) is not None  # what it used to do
    with pytest.raises(HealthModelError, match="minimum span"):
        rul_estimate(t, h, failure_threshold=2.5, now_h=1.0, min_span_h=-1.0)


def test_one_outlying_bin_at_the_end_is_no_trend():
    rng = np.random.default_rng(6)
    t = np.arange(0.0, 40.0, 0.1)
    h = 0.3 * np.exp(rng.normal(0.0, 0.1, t.size))
    h[-3:] = 6.0  # a burst in the last bin
    assert rul_estimate(t, h, failure_threshold=10.0, now_h=40.0) is None
