"""A component's wear index: how far its signals have gone from normal running towards where they were when such a
component failed, 0 in normal running and about 1 at failure.

The PCA health index (`pca`) says *that* a machine left normal running, in units of its own training noise: two
machines with the same wear can score twice apart because one ran quieter in training, so the index at which a
machine fails spreads widely and a RUL extrapolated to it is off by that spread. The wear index is in the physics'
units instead: each signal's departure from its training mean relative to that mean (`relative_deviation`), divided
by the departure the same signal had when the component failed on machines of the maintenance history
(`wear_index_learn`: per signal, the median over the failures; signals that moved the same way in every failure and
spread little between failures). The index of a row is the smallest of its signals' fractions (`wear_index`): wear
moves all of a component's signals together, a drifting sensor moves one, and the smallest does not follow a lone
signal up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maintenance.health.errors import HealthModelError
from maintenance.health.pca import FloatArray, PcaModel

MIN_MOVE = 0.02  # a signal that moved less than this (relative to its mean) at failure does not show the wear
MAX_SPREAD = 0.35  # nor one whose departure at failure spreads more than this (coefficient of variation)


@dataclass(frozen=True)
class WearIndex:
    """`signals` (in `PcaModel.signals` order, a subset) and their relative departure at failure (`at_failure`)."""

    signals: tuple[str, ...]
    at_failure: FloatArray


def relative_deviation(model: PcaModel, X: Any) -> FloatArray:
    """(x - training mean) / |training mean| for rows `X` (the columns of `model.signals`); NaN stays NaN."""
    a = np.asarray(X, dtype=float)
    if a.ndim != 2 or a.shape[1] != len(model.signals):
        raise HealthModelError(f"expected rows of {len(model.signals)} signal values, got shape {a.shape}")
    base = np.abs(model.mean)
    if (base <= 0).any():
        zero = [s for s, b in zip(model.signals, base, strict=True) if b <= 0]
        raise HealthModelError(f"a relative departure needs a non-zero training mean: {', '.join(zero)}")
    return np.asarray((a - model.mean) / base)


def wear_index_learn(signals: Sequence[str], at_failure: Any) -> WearIndex:
    """From the relative departures of `signals` at past failures of one component (rows: failures), the signals
    that show its wear and their typical departure at failure. Refuses a history without any failure or in which
    no signal moved consistently."""
    a = np.asarray(at_failure, dtype=float)
    if a.ndim != 2 or a.shape[1] != len(signals):
        raise HealthModelError(f"expected one row of {len(signals)} departures per failure, got shape {a.shape}")
    a = a[np.isfinite(a).all(axis=1)]
    if a.shape[0] == 0:
        raise HealthModelError("no failure in the maintenance history: a wear index needs at least one")
    median = np.median(a, axis=0)
    same_sign = (np.sign(a) == np.sign(median)).all(axis=0)
    spread = a.std(axis=0) / np.maximum(np.abs(median), 1e-12) if a.shape[0] > 1 else np.zeros(len(signals))
    keep = same_sign & (np.abs(median) >= MIN_MOVE) & (spread <= MAX_SPREAD)
    if not keep.any():
        raise HealthModelError(
            "no signal moved the same way at every failure of the history: no wear index (signals "
            f"{', '.join(signals)}; departures at failure {np.round(median, 3).tolist()})"
        )
    return WearIndex(
        signals=tuple(s for s, k in zip(signals, keep, strict=True) if k), at_failure=np.asarray(median[keep])
    )


def wear_index(index: WearIndex, signals: Sequence[str], deviations: Any) -> FloatArray:
    """Per row of relative `deviations` (columns: `signals`), the smallest fraction of the departure at failure over
    the index's signals (NaN where they are all missing)."""
    a = np.asarray(deviations, dtype=float)
    signals = list(signals)
    missing = [s for s in index.signals if s not in signals]
    if missing:
        raise HealthModelError(f"the wear index needs the signals {', '.join(missing)}")
    columns = [signals.index(s) for s in index.signals]
    fractions = a[:, columns] / index.at_failure
    out = np.full(a.shape[0], np.nan)
    finite = np.isfinite(fractions).any(axis=1)
    out[finite] = np.nanmedian(fractions[finite], axis=1)
    return out
