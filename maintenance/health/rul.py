"""Remaining useful life from a health index's trend, with its uncertainty.

Wear that ends in a failure grows slowly then faster (cracks and spalls grow in proportion to their size), so a
degradation index h (the higher the worse; the PCA health index, or a component's wear index, `index`) follows
h(t) ~ floor + a exp(b t): the index of normal running (its noise floor: a constant, possibly 0 or negative for an
index that measures the departure from normal) plus the wear, once it has risen out of that floor. The method:

1. Smooth: the points up to `now_h` are put in equal time bins (`bins`) over the last `window_h` hours (default:
   all) and each bin gives its median (robust to spikes and to a few missing values).
2. Fit: weighted least squares (scipy.optimize.least_squares) of floor + exp(log_rise + b (t - now)) on the bin
   medians, the weights halving every `half_life_h` hours back from now (default: a third of the span), so recent
   behaviour counts most. The fit gives the parameters and their covariance (the residual variance over the weights'
   effective sample size, times the inverse of J'WJ). A fit without the floor (log-linear) flattens while the wear is
   still in the noise and then predicts late; the floor takes the noise, the exponential the wear.
3. No trend, no estimate: None unless b is positive and significant (b / se(b) >= `min_t`), the wear stands out of
   the residual noise in at least `min_support` bins (one outlying bin is not a trend), there are at least
   `min_points` smoothed points, and the points span at least `min_span_h` hours (a short stretch, e.g. the warm-up
   after a repair, is no degradation trend).
4. Extrapolate: the failure is where the trend crosses `failure_threshold`. The RUL's median is that of the fitted
   trend; its interval comes from the parameters' uncertainty (2000 draws from their fitted Student-t distribution,
   a fixed seed so that the same data always give the same answer; a draw whose trend never rises never fails):
   the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles, each at least 0.
If the smoothed index is already at the threshold (its last three bins), RUL is 0.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from maintenance.health.errors import HealthModelError

DRAWS = 2000
NEVER_H = 1e12  # a draw whose trend never reaches the threshold


@dataclass(frozen=True, slots=True)
class RulEstimate:
    """Remaining useful life in hours from `now_h`: `median_h`, and the interval [`low_h`, `high_h`] at `confidence`
    (`high_h` may be inf: the trend might flatten). `rate_per_h`: the fitted growth rate b of the index; `level`:
    the fitted index at now."""

    median_h: float
    low_h: float
    high_h: float
    confidence: float
    now_h: float
    rate_per_h: float
    level: float

    def to_json(self) -> dict[str, Any]:
        return {
            "median_h": self.median_h,
            "low_h": self.low_h,
            "high_h": self.high_h if math.isfinite(self.high_h) else None,
            "confidence": self.confidence,
            "now_h": self.now_h,
            "rate_per_h": self.rate_per_h,
            "level": self.level,
        }


def rul_estimate(
    times_h: Any,
    health_index: Any,
    *,
    failure_threshold: float,
    now_h: float,
    confidence: float = 0.9,
    window_h: float | None = None,
    half_life_h: float | None = None,
    bins: int = 40,
    min_points: int = 6,
    min_t: float = 3.0,
    min_support: int = 3,
    min_span_h: float = 0.0,
    additive: bool = False,
) -> RulEstimate | None:
    """The remaining useful life at `now_h` (see the module's doc), or None when the index shows no rising trend.
    `additive`: the index is a departure from normal running (around 0 then, a wear index) whose noise does not grow
    with it, fitted as it is; otherwise a positive index (the health index) is fitted on its logarithm."""
    t = np.asarray(times_h, dtype=float).reshape(-1)
    h = np.asarray(health_index, dtype=float).reshape(-1)
    if t.shape != h.shape:
        raise HealthModelError(f"times and health index differ in length: {t.size} and {h.size}")
    if not failure_threshold > 0 or not math.isfinite(failure_threshold):
        raise HealthModelError(f"the failure threshold must be a positive number: got {failure_threshold}")
    if not 0 < confidence < 1:
        raise HealthModelError(f"confidence is in (0, 1): got {confidence}")
    if min_span_h < 0:
        raise HealthModelError(f"the minimum span is a duration: >= 0 hours, got {min_span_h}")
    keep = np.isfinite(t) & np.isfinite(h) & (t <= now_h)
    if window_h is not None:
        keep &= t >= now_h - window_h
    t, h = t[keep], h[keep]
    if t.size < min_points:
        return None
    start = float(t.min())
    span = now_h - start
    if span <= 0 or span < min_span_h:
        return None
    edges = np.linspace(start, now_h, bins + 1)
    index = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    bt, bh = [], []
    for b in range(bins):
        members = index == b
        if members.any():
            bt.append(float(np.median(t[members])))
            bh.append(float(np.median(h[members])))
    if len(bt) < min_points:
        return None
    x = np.asarray(bt) - now_h
    level = np.asarray(bh)
    if (level[-min(3, level.size) :] >= failure_threshold).all():  # (one bin over it may be a spike)
        return RulEstimate(0.0, 0.0, 0.0, confidence, now_h, math.nan, float(level[-1]))
    half_life = half_life_h if half_life_h is not None else span / 3.0
    w = 0.5 ** (-x / max(half_life, 1e-9))
    n_eff = float(w.sum() ** 2 / (w**2).sum())
    if n_eff <= 4:
        return None
    w = w * n_eff / w.sum()
    fit = _fit_floor_exponential(x, level, w, n_eff, additive)
    if fit is None:
        return None
    params, cov, noise = fit
    floor, log_rise, b = params
    se_b = math.sqrt(max(cov[2, 2], 0.0))
    if not b > 0 or b < min_t * se_b:
        return None
    if int(np.count_nonzero(np.exp(log_rise + b * x) > 2.0 * noise)) < min_support:
        return None
    mid = _time_to(failure_threshold, floor, log_rise, b)
    if not math.isfinite(mid):
        return None
    rng = np.random.default_rng(0)
    dof = n_eff - 3
    chol = np.linalg.cholesky(cov + np.eye(3) * 1e-12)
    draws = rng.standard_normal((DRAWS, 3)) @ chol.T
    draws *= np.sqrt(dof / rng.chisquare(dof, size=(DRAWS, 1)))
    draws += params
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rise = failure_threshold - draws[:, 0]
        ruls = np.where(
            (draws[:, 2] > 0) & (rise > 0), (np.log(np.maximum(rise, 1e-300)) - draws[:, 1]) / draws[:, 2], np.inf
        )
        ruls = np.where(rise <= 0, 0.0, ruls)
    ruls = np.clip(np.nan_to_num(ruls, nan=NEVER_H, posinf=NEVER_H), 0.0, NEVER_H)  # (quantiles of inf are nan)
    lo, hi = (
        float(v) if v < NEVER_H else math.inf for v in np.quantile(ruls, [(1 - confidence) / 2, (1 + confidence) / 2])
    )
    lo, hi = min(lo, mid), max(hi, mid)
    return RulEstimate(mid, lo, hi, confidence, now_h, float(b), float(floor + math.exp(log_rise)))


def _time_to(threshold: float, floor: float, log_rise: float, rate: float) -> float:
    """When floor + exp(log_rise + rate x) reaches `threshold` (x in hours from now; 0 if it is there)."""
    if threshold <= floor:
        return 0.0
    return max(0.0, (math.log(threshold - floor) - log_rise) / rate)


def _fit_floor_exponential(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, n_eff: float, additive: bool
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Weighted least squares of floor + exp(log_rise + b x) on `y`: the parameters (floor, log_rise, b), their
    covariance and the residual standard deviation, or None."""
    early = y[: max(2, y.size // 4)]
    floor0 = float(np.median(early))
    rise = y - floor0
    positive = rise > 0
    b0, log0 = 0.1, math.log(max(float(y[-1] - floor0), 1e-6))
    if np.count_nonzero(positive) >= 2:
        A = np.column_stack([np.ones(int(positive.sum())), x[positive]])
        AtW = A.T * w[positive]
        with contextlib.suppress(np.linalg.LinAlgError):  # (then the fixed start above)
            log0, b0 = np.linalg.solve(AtW @ A, AtW @ np.log(rise[positive]))
    # An index that stays positive (the PCA health index) has a noise that grows with it: fitted on its logarithm.
    # One that measures the departure from normal (a wear index, around 0 in normal running): as it is.
    relative = not additive and bool((y > 0).all())
    target = np.log(y) if relative else y
    scale = 1.0 if relative else max(float(np.ptp(y)), 1e-12)
    sw = np.sqrt(w) / scale

    def residuals(p: np.ndarray) -> np.ndarray:
        trend = p[0] + np.exp(np.clip(p[1] + p[2] * x, -700.0, 700.0))
        return np.asarray(sw * ((np.log(np.maximum(trend, 1e-300)) if relative else trend) - target))

    floor0 = max(floor0, 0.0) if relative else floor0
    start = np.array([floor0, float(np.clip(log0, -40.0, 40.0)), float(np.clip(b0, 1e-4, 40.0))])
    lower = [0.0 if relative else -np.inf, -50.0, 0.0]
    try:
        fit = optimize.least_squares(residuals, start, bounds=(lower, [np.inf, 50.0, 50.0]))
    except ValueError:
        return None
    if not fit.success or not np.isfinite(fit.x).all():
        return None
    s2 = float((fit.fun**2).sum() / max(n_eff - 3, 1.0))
    J = fit.jac
    cov = s2 * np.linalg.pinv(J.T @ J)
    if not np.isfinite(cov).all():
        return None
    # The residual noise in the index's units (relative: around the latest level), for the support rule.
    noise = math.sqrt(s2) * (float(y[-1]) if relative else scale)
    return fit.x, cov, noise
