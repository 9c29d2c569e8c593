"""When a health score becomes a maintenance alert, and when it is a sensor's fault rather than the machine's.

The rules (`AlertPolicy`), over the scores of the current life (since the model's baseline or the last maintenance):

- **Sensor screen first** (`sensor_screen`): a signal whose latest reading is missing (a dropout) or that repeats the
  same value over its last `stuck_samples` readings (a stuck sensor: a live sensor always shows some noise) is
  reconstructed from the others (`pca_reconstruct`) before scoring, and reported as a sensor suspect, not a machine
  fault.
- **Corroboration**: the rules read `health_corroborated` (`pca`): the health index once the one signal that
  contributes most is reconstructed from the others. Wear moves several signals (a bearing: vibration, its
  high-frequency band, bearing temperature, motor current); a drifting or stuck sensor moves one. A score that is high
  on its own but not corroborated names that signal as a sensor suspect (`one_signal_suspect`).
- **Score held high**: the corroborated index, smoothed by a running median over `smoothing_h`, above `score_limit`
  throughout the last `hold_h` hours.
- **Remaining useful life**: where `failure_threshold` (the corroborated index at which the machine is considered
  failed) is set, `rul_estimate` on the corroborated index; the alert is due when the interval's lower bound is
  inside `planning_horizon_h`.

`assess` applies them to one machine's recent history and says whether an alert is due and why; the caller (the
maintenance app, bench/pdm.py) raises it once and keeps it until the work request is closed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maintenance.health.errors import HealthModelError
from maintenance.health.explain import signal_label
from maintenance.health.pca import FloatArray, PcaModel, PcaScores, pca_reconstruct, pca_score
from maintenance.health.rul import RulEstimate, rul_estimate

DROPOUT = "dropout"
STUCK = "stuck"
LOOKBACK_HOLDS = 4  # how far back `held_h` is measured, in hold times
INCONSISTENT = "inconsistent"  # off on its own while the signals it moves with are not: a drift, a bad sensor


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    score_limit: float = 1.0
    hold_h: float = 1.0
    smoothing_h: float = 0.5
    planning_horizon_h: float = 8.0
    failure_threshold: float | None = None
    rul_confidence: float = 0.9
    rul_window_h: float | None = None
    #: No RUL from less than this much of the current life: right after a repair or a re-baseline the machine warms
    #: up (its temperatures rise for a while) and a short rise is no wear trend.
    rul_min_span_h: float = 2.0
    #: With a wear index (`assess`'s rul_index), the RUL alerts only once the fitted index has risen this far towards
    #: failure (1): a healthy machine's index wanders near 0 (a tool's wear moves some of the same signals), and an
    #: extrapolation from there is no evidence yet.
    rul_min_level: float = 0.0
    stuck_samples: int = 10
    #: A signal is stuck when its last readings spread less than this fraction of its training standard deviation.
    stuck_fraction: float = 1e-3

    def __post_init__(self) -> None:
        if not self.score_limit > 0:
            raise HealthModelError(f"the score limit must be positive: got {self.score_limit}")
        if self.hold_h < 0 or self.smoothing_h < 0 or self.planning_horizon_h < 0 or self.rul_min_span_h < 0:
            raise HealthModelError("hold, smoothing, planning horizon and RUL span are durations: >= 0 hours")
        if self.failure_threshold is not None and not self.failure_threshold > 0:
            raise HealthModelError(f"the failure threshold must be positive: got {self.failure_threshold}")
        if self.stuck_samples < 2:
            raise HealthModelError("a stuck sensor is told over at least 2 readings")


@dataclass(frozen=True)
class Screened:
    """Scores of rows after the sensor screen: `scores` of the reconstructed rows, `suspects` (signal -> dropout /
    stuck) over the rows, `mask` (n, p) of the readings that were reconstructed."""

    scores: PcaScores
    suspects: dict[str, str]
    mask: np.ndarray[Any, np.dtype[np.bool_]]


def sensor_screen(model: PcaModel, X: Any, policy: AlertPolicy | None = None) -> Screened:
    """Score rows `X` (the columns of `model.signals`, oldest first, consecutive readings of one machine) with
    dropped-out and stuck readings reconstructed from the other signals."""
    policy = policy or AlertPolicy()
    a = np.asarray(X, dtype=float)
    if a.ndim != 2 or a.shape[1] != len(model.signals):
        raise HealthModelError(f"expected rows of {len(model.signals)} signal values, got shape {a.shape}")
    mask = ~np.isfinite(a)
    k = policy.stuck_samples
    if a.shape[0] >= k:
        # A reading is stuck when it and the k - 1 readings before it (all finite) spread less than the tolerance.
        windows = np.lib.stride_tricks.sliding_window_view(a, k, axis=0)  # (n - k + 1, p, k)
        spread = windows.max(axis=2) - windows.min(axis=2)  # NaN where a reading is missing: not stuck
        with np.errstate(invalid="ignore"):
            stuck = spread <= policy.stuck_fraction * model.scale
        mask[k - 1 :] |= stuck
        for offset in range(1, k):  # the whole stuck run, not only its end
            mask[k - 1 - offset : a.shape[0] - offset] |= stuck
    suspects: dict[str, str] = {}
    if a.shape[0]:
        for j, signal in enumerate(model.signals):
            if not np.isfinite(a[-1, j]):
                suspects[signal] = DROPOUT
            elif mask[-1, j]:
                suspects[signal] = STUCK
    scores = pca_score(model, pca_reconstruct(model, a, mask))
    return Screened(scores=scores, suspects=suspects, mask=mask)


def one_signal_suspect(model: PcaModel, scores: PcaScores, policy: AlertPolicy | None = None) -> str | None:
    """The signal to suspect when the latest rows' score is high but not corroborated (median over the rows given):
    one signal off on its own, as a drifting sensor is. None otherwise."""
    policy = policy or AlertPolicy()
    if scores.health.size == 0:
        return None
    health = float(np.nanmedian(scores.health)) if np.isfinite(scores.health).any() else math.nan
    corroborated = (
        float(np.nanmedian(scores.health_corroborated)) if np.isfinite(scores.health_corroborated).any() else math.nan
    )
    if not (health > policy.score_limit and corroborated <= policy.score_limit):
        return None
    shares = np.nanmedian(scores.contributions, axis=0)
    return model.signals[int(np.nanargmax(shares))]


def running_median(times_h: FloatArray, values: FloatArray, window_h: float) -> FloatArray:
    """The median of `values` over (t - window_h, t] at each time t (times ascending); NaN values are skipped."""
    out = np.full(values.shape, np.nan)
    if values.size == 0:
        return out
    start = np.searchsorted(times_h, times_h - window_h, side="right")
    width = int(np.max(np.arange(values.size) - start + 1))
    # Each row of the padded matrix holds the window of one time (NaN where it reaches before the start).
    padded = np.concatenate([np.full(width - 1, np.nan), np.asarray(values, dtype=float)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    offsets = np.arange(values.size) - start + 1  # points in each window
    masked = np.where(np.arange(width)[None, :] >= width - offsets[:, None], windows, np.nan)
    finite = np.isfinite(masked).any(axis=1)
    if finite.any():
        out[finite] = np.nanmedian(masked[finite], axis=1)
    return out


@dataclass(frozen=True)
class Assessment:
    """The verdict at `now_h`: `alert` with its `reasons`; the smoothed `health` and `corroborated` indices now;
    `held_h`: how long the smoothed corroborated index has stayed above the limit (looked at over up to
    LOOKBACK_HOLDS hold times); `rul` (None: no trend or no
    failure threshold); `sensor_suspects` (signal -> dropout / stuck / inconsistent)."""

    now_h: float
    alert: bool
    reasons: tuple[str, ...]
    health: float
    corroborated: float
    held_h: float
    rul: RulEstimate | None
    sensor_suspects: Mapping[str, str] = field(default_factory=dict)

    def sensor_text(self) -> str:
        return ", ".join(f"{signal_label(s)}: {kind}" for s, kind in sorted(self.sensor_suspects.items()))


def assess(
    policy: AlertPolicy,
    times_h: Any,
    health: Any,
    corroborated: Any,
    *,
    now_h: float,
    sensor_suspects: Mapping[str, str] | None = None,
    rul_index: Any = None,
) -> Assessment:
    """Apply the policy to one machine's scores of the current life (times in hours, ascending; NaN: no score).
    `rul_index`: the index the RUL extrapolates to the policy's failure threshold, a component's wear index
    (`index`: a departure from normal, additive noise), parallel to the scores; default the corroborated health
    index."""
    t = np.asarray(times_h, dtype=float).reshape(-1)
    h = np.asarray(health, dtype=float).reshape(-1)
    c = np.asarray(corroborated, dtype=float).reshape(-1)
    r = c if rul_index is None else np.asarray(rul_index, dtype=float).reshape(-1)
    if not t.shape == h.shape == c.shape == r.shape:
        raise HealthModelError(f"times and scores differ in length: {t.size}, {h.size}, {c.size}, {r.size}")
    upto = t <= now_h
    t, h, c, r = t[upto], h[upto], c[upto], r[upto]
    suspects = dict(sensor_suspects or {})
    recent = t > now_h - LOOKBACK_HOLDS * policy.hold_h - policy.smoothing_h
    rt, rh, rc = t[recent], h[recent], c[recent]
    smooth_c = running_median(rt, rc, policy.smoothing_h)
    smooth_h = running_median(rt, rh, policy.smoothing_h)
    health_now = float(smooth_h[-1]) if smooth_h.size else math.nan
    corroborated_now = float(smooth_c[-1]) if smooth_c.size else math.nan
    held_h = 0.0
    above = smooth_c > policy.score_limit
    if above.size and above[-1]:
        below = np.flatnonzero(~above)
        since = rt[below[-1] + 1] if below.size else rt[0]
        held_h = now_h - float(since)
    reasons: list[str] = []
    if above.size and above[-1] and held_h >= policy.hold_h:
        reasons.append(f"health score {corroborated_now:.1f}x its limit for {held_h:.1f} h")
    rul = None
    if policy.failure_threshold is not None:
        rul = rul_estimate(
            t,
            r,
            failure_threshold=policy.failure_threshold,
            now_h=now_h,
            confidence=policy.rul_confidence,
            window_h=policy.rul_window_h,
            min_span_h=policy.rul_min_span_h,
            additive=rul_index is not None,
        )
        risen = rul_index is None or (rul is not None and rul.level >= policy.rul_min_level)
        if rul is not None and rul.low_h <= policy.planning_horizon_h and risen:
            reasons.append(
                f"remaining useful life {rul.median_h:.1f} h ({round(100 * rul.confidence)} % between "
                f"{rul.low_h:.1f} and {rul.high_h:.1f} h), inside the {policy.planning_horizon_h:g} h planning horizon"
            )
    return Assessment(
        now_h=now_h,
        alert=bool(reasons),
        reasons=tuple(reasons),
        health=health_now,
        corroborated=corroborated_now,
        held_h=held_h,
        rul=rul,
        sensor_suspects=suspects,
    )
