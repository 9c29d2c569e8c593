"""Remaining useful life from a health index's trend, with its uncertainty.

Wear that ends in a failure grows slowly then faster (cracks and spalls grow in proportion to their size), so a
degradation index h (0 < h, the higher the worse; e.g. the PCA health index) follows h(t) ~ a exp(b t) once it has
risen out of its noise floor. The method:

1. Smooth: the points up to `now_h` are put in equal time bins (`bins`) over the last `window_h` hours (default:
   all) and each bin gives its median (robust to spikes and to a few missing values).
2. Fit: weighted least squares of log(median) on (t - now), the weights halving every `half_life_h` hours back from
   now (default: a third of the span), so recent behaviour counts most and an old, flat part of the life does not
   flatten the trend. The fit gives the level at now (log a_now) and the rate b with their covariance (the residual
   variance over the weights' effective sample size).
3. No trend, no estimate: None unless b is positive and significant (b / se(b) >= `min_t`), with at least
   `min_points` smoothed points.
4. Extrapolate: the failure is where the trend crosses `failure_threshold`: RUL = (log threshold - log a_now) / b.
   Its interval comes from the parameters' uncertainty (2000 draws of (log a_now, b) from their fitted Student-t
   distribution, a fixed seed so that the same data always give the same answer; a draw with b <= 0 never fails):
   the median and the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles, each at least 0.
If the smoothed index is already at the threshold, RUL is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

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
) -> RulEstimate | None:
    """The remaining useful life at `now_h` (see the module's doc), or None when the index shows no rising trend."""
    t = np.asarray(times_h, dtype=float).reshape(-1)
    h = np.asarray(health_index, dtype=float).reshape(-1)
    if t.shape != h.shape:
        raise HealthModelError(f"times and health index differ in length: {t.size} and {h.size}")
    if not failure_threshold > 0 or not math.isfinite(failure_threshold):
        raise HealthModelError(f"the failure threshold must be a positive number: got {failure_threshold}")
    if not 0 < confidence < 1:
        raise HealthModelError(f"confidence is in (0, 1): got {confidence}")
    keep = np.isfinite(t) & np.isfinite(h) & (t <= now_h)
    if window_h is not None:
        keep &= t >= now_h - window_h
    t, h = t[keep], np.maximum(h[keep], 1e-9)
    if t.size < min_points:
        return None
    start = float(t.min())
    span = now_h - start
    if span <= 0:
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
    y = np.log(np.asarray(bh))
    if y[-1] >= math.log(failure_threshold):
        return RulEstimate(0.0, 0.0, 0.0, confidence, now_h, math.nan, float(bh[-1]))
    half_life = half_life_h if half_life_h is not None else span / 3.0
    w = 0.5 ** (-x / max(half_life, 1e-9))
    n_eff = float(w.sum() ** 2 / (w**2).sum())
    if n_eff <= 3:
        return None
    w = w * n_eff / w.sum()
    A = np.column_stack([np.ones_like(x), x])
    AtW = A.T * w
    normal = AtW @ A
    try:
        normal_inv = np.linalg.inv(normal)
    except np.linalg.LinAlgError:
        return None
    c, b = normal_inv @ (AtW @ y)
    residual = y - (c + b * x)
    s2 = float((w * residual**2).sum() / (n_eff - 2))
    cov = s2 * normal_inv
    se_b = math.sqrt(max(cov[1, 1], 0.0))
    if not b > 0 or b < min_t * se_b:
        return None
    target = math.log(failure_threshold)
    rng = np.random.default_rng(0)
    dof = n_eff - 2
    chol = np.linalg.cholesky(cov + np.eye(2) * 1e-15)
    draws = rng.standard_normal((DRAWS, 2)) @ chol.T
    draws *= np.sqrt(dof / rng.chisquare(dof, size=(DRAWS, 1)))
    cs, bs = c + draws[:, 0], b + draws[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ruls = np.where(bs > 0, (target - cs) / bs, np.inf)
    ruls = np.clip(ruls, 0.0, NEVER_H)  # (quantiles of inf are nan)
    lo, mid, hi = (
        float(v) if v < NEVER_H else math.inf
        for v in np.quantile(ruls, [(1 - confidence) / 2, 0.5, (1 + confidence) / 2])
    )
    if not math.isfinite(mid):
        return None
    return RulEstimate(mid, lo, hi, confidence, now_h, float(b), float(math.exp(c)))
