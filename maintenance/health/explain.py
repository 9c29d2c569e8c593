"""Which signals drive a score: each signal's deviation from normal running (in standard deviations of the training
window, signed) and its share of the score (its reconstruction-based contribution, `pca`), for the machine's health
page and the alert's message ("vibration rms +4.1σ, bearing temperature +2.3σ")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maintenance.health.errors import HealthModelError
from maintenance.health.pca import PcaModel, pca_score


@dataclass(frozen=True, slots=True)
class Contribution:
    """`sigma`: the signal's deviation from its training mean, in training standard deviations (signed);
    `share`: its part of the row's score, 0..1 (the shares of a row add up to 1); `value`: its part of the health
    index itself."""

    signal: str
    sigma: float
    share: float
    value: float


def explain(model: PcaModel, x_row: Any) -> list[Contribution]:
    """The contributions of each signal to the score of one row (the columns of `model.signals`), largest share
    first. Refuses a row with NaN or inf (nothing to explain)."""
    row = np.asarray(x_row, dtype=float).reshape(-1)
    if row.size != len(model.signals):
        raise HealthModelError(f"a row of {len(model.signals)} signal values expected, got {row.size}")
    if not np.isfinite(row).all():
        missing = [s for s, v in zip(model.signals, row, strict=True) if not math.isfinite(v)]
        raise HealthModelError(f"cannot explain a row with missing values: {', '.join(missing)}")
    scores = pca_score(model, row.reshape(1, -1))
    values = scores.contributions[0]
    total = float(values.sum())
    contributions = [
        Contribution(
            signal=signal,
            sigma=float(scores.deviations[0, j]),
            share=float(values[j] / total) if total > 0 else 1.0 / len(values),
            value=float(values[j]),
        )
        for j, signal in enumerate(model.signals)
    ]
    return sorted(contributions, key=lambda c: (-c.share, c.signal))


def signal_label(signal: str) -> str:
    return signal.replace("_", " ")


def explanation_text(
    contributions: Sequence[Contribution], top: int = 3, *, labels: Mapping[str, str] | None = None
) -> str:
    """'vibration rms +4.1σ, bearing temperature +2.3σ': the `top` largest shares (in the order given; `explain`
    sorts them), named by `labels` or by the signal name with spaces for underscores."""
    labels = labels or {}
    return ", ".join(f"{labels.get(c.signal, signal_label(c.signal))} {c.sigma:+.1f}σ" for c in contributions[:top])
