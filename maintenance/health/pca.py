"""A machine's health model: principal component analysis of its signals in normal running, with Hotelling's T²
(how far a sample is inside the normal subspace) and the Q statistic or squared prediction error (how far it is off
it), each with its control limit.

Fit (`pca_fit`): the training rows are standardised per signal (mean, sample standard deviation); the eigenvectors of
their correlation matrix that explain `variance` of it are kept (k components, at least 1 and, with two signals or
more, at most p - 1 so that Q sees something). Limits at confidence `alpha`:

    T²: k (n - 1)(n + 1) / (n (n - k)) F(alpha; k, n - k)                         (Hotelling, for a new sample)
    Q:  theta1 [c h0 sqrt(2 theta2) / theta1 + 1 + theta2 h0 (h0 - 1) / theta1²]^(1 / h0)   (Jackson & Mudholkar 1979)

with theta_i the sums of the residual eigenvalues to the i-th power, h0 = 1 - 2 theta1 theta3 / (3 theta2²) and c the
normal quantile of alpha. Where the residual eigenvalues vanish (signals that are exact combinations of others) the
Q limit falls back to the alpha quantile of the training Q.

Score (`pca_score`): T², Q and the health index, the combined index phi = T² / T² limit + Q / Q limit (Yue & Qin
2001) over its own limit g chi2(alpha; h) (g = tr((SM)²) / tr(SM), h = tr(SM)² / tr((SM)²), S the training correlation
matrix, M the quadratic form of phi): 1.0 at the limit, the higher the worse. The contribution of each signal is its
reconstruction-based contribution (Alcalá & Qin 2009) to phi, scaled so that a row's contributions add up to its
health index; RBC is non-negative and, unlike plain contributions, points at the faulty signal of a one-signal fault.
RBC_j is also by how much phi falls when signal j is reconstructed from the others, so `health_corroborated` (phi less
its largest RBC, over the limit) stays high only when more than one signal departs from normal: a sensor fault (a
stuck value, a drift) moves one signal, wear moves several.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from maintenance.health.errors import HealthModelError

MIN_ROWS = 20  # and at least MIN_ROWS_PER_SIGNAL per signal
MIN_ROWS_PER_SIGNAL = 5
#: A signal whose standard deviation is below this fraction of its mean's magnitude (or 1e-9 absolute) is flat.
FLAT_RELATIVE = 1e-9

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class PcaModel:
    """A fitted model. `signals`: the columns `pca_score` expects, in order (without any dropped flat signal:
    `dropped`). Arrays are read-only."""

    signals: tuple[str, ...]
    mean: FloatArray  # (p,)
    scale: FloatArray  # (p,) standard deviations
    components: FloatArray  # (p, k) loadings, columns are principal directions
    eigenvalues: FloatArray  # (p,) all eigenvalues of the correlation matrix, descending
    t2_limit: float
    q_limit: float
    phi_limit: float
    n_train: int
    variance: float
    alpha: float
    dropped: tuple[str, ...] = ()
    version: int = field(default=1)

    @property
    def n_components(self) -> int:
        return int(self.components.shape[1])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (plain lists and floats), the inverse of `from_json`."""
        return {
            "format": "pca/1",
            "signals": list(self.signals),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "components": self.components.tolist(),
            "eigenvalues": self.eigenvalues.tolist(),
            "t2_limit": self.t2_limit,
            "q_limit": self.q_limit,
            "phi_limit": self.phi_limit,
            "n_train": self.n_train,
            "variance": self.variance,
            "alpha": self.alpha,
            "dropped": list(self.dropped),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PcaModel:
        if d.get("format") != "pca/1":
            raise HealthModelError(f"not a PCA health model (format {d.get('format')!r}, expected 'pca/1')")
        p = len(d["signals"])
        components = _frozen(np.asarray(d["components"], dtype=float).reshape(p, -1))
        return cls(
            signals=tuple(d["signals"]),
            mean=_frozen(np.asarray(d["mean"], dtype=float)),
            scale=_frozen(np.asarray(d["scale"], dtype=float)),
            components=components,
            eigenvalues=_frozen(np.asarray(d["eigenvalues"], dtype=float)),
            t2_limit=float(d["t2_limit"]),
            q_limit=float(d["q_limit"]),
            phi_limit=float(d["phi_limit"]),
            n_train=int(d["n_train"]),
            variance=float(d["variance"]),
            alpha=float(d["alpha"]),
            dropped=tuple(d.get("dropped", ())),
            version=int(d.get("version", 1)),
        )


@dataclass(frozen=True)
class PcaScores:
    """Per row: `t2`, `q`, `health` (the combined index over its limit: 1.0 at the limit), `contributions` (n, p) of
    each signal (non-negative, a row's add up to its health), `deviations` (n, p) in standard deviations of training,
    `health_corroborated` (the health index once the one signal that contributes most is reconstructed from the
    others: high only when several signals depart from normal)."""

    t2: FloatArray
    q: FloatArray
    health: FloatArray
    contributions: FloatArray
    deviations: FloatArray
    health_corroborated: FloatArray


def _frozen(a: FloatArray) -> FloatArray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _matrix(X: Any, width: int, what: str) -> FloatArray:
    a = np.asarray(X, dtype=float)
    if a.ndim == 1 and width == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[1] != width:
        raise HealthModelError(f"{what}: expected rows of {width} signal values, got an array of shape {a.shape}")
    return a


def pca_fit(
    X: Any,
    signals: Sequence[str],
    *,
    variance: float = 0.95,
    alpha: float = 0.99,
    drop_flat: bool = False,
    drop_nonfinite: bool = False,
) -> PcaModel:
    """Fit a model on training rows `X` (n, p) of `signals`. Refuses (HealthModelError) too few rows, NaN or inf
    (unless `drop_nonfinite`: such rows are left out) and a flat signal (unless `drop_flat`: it is left out of the
    model and listed in `dropped`)."""
    signals = tuple(signals)
    if not signals:
        raise HealthModelError("a health model needs at least one signal")
    if len(set(signals)) != len(signals):
        raise HealthModelError(f"signals named twice: {sorted({s for s in signals if signals.count(s) > 1})}")
    if not 0 < variance <= 1:
        raise HealthModelError(f"variance is the share of variance to keep, in (0, 1]: got {variance}")
    if not 0.5 < alpha < 1:
        raise HealthModelError(f"alpha is the confidence of the control limits, in (0.5, 1): got {alpha}")
    a = _matrix(X, len(signals), "training data")
    finite = np.isfinite(a).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        if not drop_nonfinite:
            columns = [signals[j] for j in np.flatnonzero(~np.isfinite(a[bad]).all(axis=0))]
            raise HealthModelError(
                f"training data has {bad.size} row(s) with NaN or inf (first: row {int(bad[0])}; signals: "
                f"{', '.join(columns)}); clean the training window or leave those rows out"
            )
        a = a[finite]
    p = len(signals)
    needed = max(MIN_ROWS, MIN_ROWS_PER_SIGNAL * p)
    if a.shape[0] < needed:
        raise HealthModelError(
            f"too little training data: {a.shape[0]} usable row(s) for {p} signal(s), at least {needed} needed; "
            "pick a longer training window"
        )
    mean = a.mean(axis=0)
    scale = a.std(axis=0, ddof=1)
    flat = scale <= np.maximum(1e-9, FLAT_RELATIVE * np.abs(mean))
    dropped: tuple[str, ...] = ()
    if flat.any():
        names = [signals[j] for j in np.flatnonzero(flat)]
        if not drop_flat or flat.all():
            raise HealthModelError(
                f"flat signal(s) in the training data: {', '.join(names)} (constant over the training window: a "
                "stuck sensor or an unused input); fix the sensor or leave the signal out of the model"
            )
        dropped = tuple(names)
        keep = ~flat
        a, mean, scale = a[:, keep], mean[keep], scale[keep]
        signals = tuple(s for s, k in zip(signals, keep, strict=True) if k)
        p = len(signals)
    n = a.shape[0]
    z = (a - mean) / scale
    corr = (z.T @ z) / (n - 1)
    eigenvalues, vectors = np.linalg.eigh(corr)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    vectors = vectors[:, order]
    # A deterministic sign: each direction's largest loading positive (a refit on the same data gives the same model).
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(p)])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    share = np.cumsum(eigenvalues) / eigenvalues.sum()
    k = int(np.searchsorted(share, variance - 1e-12) + 1)
    k = max(1, min(k, p - 1 if p > 1 else 1))
    t2_limit = float(k * (n - 1) * (n + 1) / (n * (n - k)) * stats.f.ppf(alpha, k, n - k))
    q_limit = _q_limit(eigenvalues[k:], alpha)
    components = vectors[:, :k]
    if not q_limit > 0:
        residual = z - (z @ components) @ components.T
        q_limit = float(np.quantile((residual**2).sum(axis=1), alpha))
    if not q_limit > 0:
        q_limit = 1e-12  # one signal, or signals that are exact combinations: nothing can leave the subspace
    SM = corr @ _phi_matrix(components, eigenvalues[:k], t2_limit, q_limit)
    tr1, tr2 = float(np.trace(SM)), float(np.trace(SM @ SM))
    phi_limit = float(tr2 / tr1 * stats.chi2.ppf(alpha, tr1**2 / tr2))
    return PcaModel(
        signals=signals,
        mean=_frozen(mean),
        scale=_frozen(scale),
        components=_frozen(components),
        eigenvalues=_frozen(eigenvalues),
        t2_limit=t2_limit,
        q_limit=q_limit,
        phi_limit=phi_limit,
        n_train=n,
        variance=variance,
        alpha=alpha,
        dropped=dropped,
    )


def _q_limit(residual_eigenvalues: FloatArray, alpha: float) -> float:
    theta1, theta2, theta3 = (float(np.sum(residual_eigenvalues**i)) for i in (1, 2, 3))
    if theta1 <= 1e-12 or theta2 <= 1e-24:
        return 0.0
    h0 = 1.0 - 2.0 * theta1 * theta3 / (3.0 * theta2**2)
    if h0 <= 1e-6:  # degenerate spectrum: Box's approximation g chi2(h)
        g, h = theta2 / theta1, theta1**2 / theta2
        return float(g * stats.chi2.ppf(alpha, h))
    c = float(stats.norm.ppf(alpha))
    base = c * h0 * np.sqrt(2.0 * theta2) / theta1 + 1.0 + theta2 * h0 * (h0 - 1.0) / theta1**2
    return float(theta1 * max(base, 1e-12) ** (1.0 / h0))


def _phi_matrix(P: FloatArray, lam: FloatArray, t2_limit: float, q_limit: float) -> FloatArray:
    """M of phi = z' M z = T² / T² limit + Q / Q limit."""
    p = P.shape[0]
    return (P / np.maximum(lam, 1e-12)) @ P.T / t2_limit + (np.eye(p) - P @ P.T) / q_limit


def pca_score(model: PcaModel, X: Any) -> PcaScores:
    """Score rows `X` (n, p: the columns of `model.signals`). A row with NaN or inf scores NaN throughout (a missing
    reading is not evidence of health or of a fault: see `alerting` for dropouts)."""
    p = len(model.signals)
    a = _matrix(X, p, "rows to score")
    z = (a - model.mean) / model.scale
    P = model.components
    lam = np.maximum(model.eigenvalues[: model.n_components], 1e-12)
    t = z @ P
    t2 = (t**2 / lam).sum(axis=1)
    residual = z - t @ P.T
    q = (residual**2).sum(axis=1)
    M = _phi_matrix(P, lam, model.t2_limit, model.q_limit)
    Mz = z @ M
    phi = (Mz * z).sum(axis=1)
    health = phi / model.phi_limit
    rbc = Mz**2 / np.maximum(np.diag(M), 1e-300)  # RBC_j = (M z)_j² / M_jj
    total = rbc.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        contributions = np.where(total > 0, rbc / total, 1.0 / p) * health[:, None]
        corroborated = np.maximum(phi - rbc.max(axis=1, initial=0.0), 0.0) / model.phi_limit
    corroborated[np.isnan(phi)] = np.nan
    return PcaScores(
        t2=t2, q=q, health=health, contributions=contributions, deviations=z, health_corroborated=corroborated
    )


def pca_reconstruct(model: PcaModel, X: Any, mask: Any = None) -> FloatArray:
    """`X` with its NaN or inf entries, and those where `mask` (n, p booleans: a stuck or dropped-out sensor) is
    True, replaced by the values the row's other signals say they should have (those that minimise phi: the
    reconstruction along the signals' own directions). A row with every signal missing stays NaN."""
    p = len(model.signals)
    a = _matrix(X, p, "rows to reconstruct").copy()
    missing = ~np.isfinite(a)
    if mask is not None:
        missing |= np.asarray(mask, dtype=bool).reshape(a.shape)
    if not missing.any():
        return a
    M = _phi_matrix(model.components, model.eigenvalues[: model.n_components], model.t2_limit, model.q_limit)
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    for i, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        rows = np.flatnonzero(inverse.reshape(-1) == i)
        if pattern.all():
            a[rows] = np.nan
            continue
        known = ~pattern
        z_known = (a[np.ix_(rows, known)] - model.mean[known]) / model.scale[known]
        # min over z_m of phi: M_mm z_m = -M_mk z_k.
        z_missing = -np.linalg.solve(M[np.ix_(pattern, pattern)], M[np.ix_(pattern, known)] @ z_known.T).T
        a[np.ix_(rows, pattern)] = model.mean[pattern] + z_missing * model.scale[pattern]
    return a
