"""Regression adjustment (CUPED) with several covariates, for means and ratio metrics.

One user contributes a vector ``v = (x, c_1, ..., c_k)`` for a mean metric, or
``v = (x, y, c_1, ..., c_k)`` for a ratio metric ``sum x / sum y`` (clicks over impressions),
where the ``c_j`` are known before the experiment (the pre-period clicks and impressions, the
pre-period value of the metric, assignment-time attributes). A group sends its sums, never
its rows: ``n``, ``sum v`` and ``sum v v'`` (``CovariateSums``).

The estimate of a group is linearised (Deng, Knoblich & Lu, KDD 2018): a mean is its own
linearisation (``z = x``); a ratio ``R = xbar / ybar`` has ``z = (x - R y) / ybar``, the
gradient ``g = (1 / ybar, -xbar / ybar^2)`` applied to ``(x, y)``. The adjusted estimate is
(Deng, Xu, Kohavi & Walker, WSDM 2013, with a vector of covariates, as Eppo's and Statsig's
ratio CUPED)::

    theta  = W_cc^-1 W_cz                         (pooled within-group regression of z on c)
    est_g  = m_g - theta' (cbar_g - cbar)          (cbar: both groups' covariate mean)
    Var_g  = (S_zz - 2 theta' S_cz + theta' S_cc theta) / n_g * (N - 2) / (N - 2 - k)

where ``S`` are a group's sample (co)variances (``n - 1``) and ``W = sum_g (n_g - 1) S_g``.
For a mean metric the effect ``est_t - est_c`` is exactly the treatment coefficient of the
OLS ``x ~ 1 + treatment + c_1 + ... + c_k`` (ANCOVA), and ``theta`` its slopes; the variance
keeps each group's own residual variance (no equal-variance assumption), with OLS's charge of
one degree of freedom per fitted slope (``N = n_c + n_t`` users, ``k`` slopes), so that few
users with many covariates never look more certain than they are. Singular covariates
(constant, collinear) are handled by the pseudo-inverse: they get no weight and cost no
degree of freedom.

Everything is vectorised over pairs: ``(P, d)`` sums and ``(P, d, d)`` cross products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.stats._validation import SUM_LIMIT, check_count
from analytics.stats.sufficient import Moments


@dataclass(frozen=True, eq=False)
class CovariateSums:
    """Sums over one group's ``n`` users of ``v = (x[, y], c_1..c_k)`` and of ``v v'``.

    ``ratio``: ``v`` starts with a numerator and a denominator (``y``); else with one value.
    ``names`` label the covariates (what the report says it adjusted for). Validated on
    construction: finite sums, a symmetric cross-product matrix whose diagonal is at least
    ``sum^2 / n`` and whose entries obey Cauchy-Schwarz, a positive denominator total.
    """

    n: int
    sums: np.ndarray
    cross: np.ndarray
    ratio: bool = False
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_count("n", self.n, minimum=2))
        sums = np.array(self.sums, dtype=float)
        cross = np.array(self.cross, dtype=float)
        head = 2 if self.ratio else 1
        if sums.ndim != 1 or sums.size < head + 1:
            raise ValueError(f"sums: needs the metric's {head} value(s) and at least 1 covariate")
        if cross.shape != (sums.size, sums.size):
            raise ValueError(f"cross: must be a {sums.size} x {sums.size} matrix")
        for name, value in (("sums", sums), ("cross", cross)):
            if not np.all(np.isfinite(value)) or np.any(np.abs(value) > SUM_LIMIT):
                raise ValueError(f"{name}: must be finite and within +-1e75")
        if not np.allclose(cross, cross.T, rtol=1e-9, atol=0):
            raise ValueError("cross: must be symmetric (sums of v v')")
        check_cross(self.n, sums, cross)
        if self.ratio and sums[1] <= 0:
            raise ValueError("sums: a ratio's denominator total must be positive")
        if self.names and len(self.names) != sums.size - head:
            raise ValueError(f"names: needs one name per covariate ({sums.size - head})")
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "cross", cross)

    @property
    def covariates(self) -> int:
        return self.sums.size - (2 if self.ratio else 1)

    @classmethod
    def from_arrays(
        cls,
        x: Sequence[float] | np.ndarray,
        covariates: Sequence[Sequence[float]] | np.ndarray,
        *,
        y: Sequence[float] | np.ndarray | None = None,
        names: tuple[str, ...] = (),
    ) -> CovariateSums:
        """The sums of per-user arrays: ``x`` (and ``y`` for a ratio), ``covariates`` one row
        per covariate (``k x n``)."""
        rows = [np.asarray(x, dtype=float)]
        if y is not None:
            rows.append(np.asarray(y, dtype=float))
        c = np.atleast_2d(np.asarray(covariates, dtype=float))
        if c.shape[1:] != rows[0].shape or any(r.shape != rows[0].shape for r in rows):
            raise ValueError("covariates: needs one value per user of x in every row")
        v = np.vstack([*rows, c])
        if not np.all(np.isfinite(v)):
            raise ValueError("covariates: per-user values must be finite")
        return cls(int(v.shape[1]), v.sum(axis=1), v @ v.T, ratio=y is not None, names=names)


def check_cross(n: float, sums: np.ndarray, cross: np.ndarray, prefix: str = "") -> None:
    """Raise ``ValueError`` if the sums cannot come from real values (broadcasts over pairs):
    ``n sum(v_i^2) >= sum(v_i)^2`` and ``sum(v_i v_j)^2 <= sum(v_i^2) sum(v_j^2)``."""
    diag = np.diagonal(cross, axis1=-2, axis2=-1)
    slack = 1 - 1e-9
    if np.any(np.asarray(n)[..., None] * diag < sums * sums * slack) or np.any(diag < 0):
        raise ValueError(f"{prefix}cross: a diagonal entry is below sum^2 / n (impossible)")
    bound = diag[..., :, None] * diag[..., None, :]
    if np.any(cross * cross * slack > bound):
        raise ValueError(f"{prefix}cross: an entry's square exceeds the product of its squares")


@dataclass(frozen=True)
class StackedSums:
    """Column form of many pairs' ``CovariateSums`` of one shape: ``n (P,)``, ``sums (P, d)``,
    ``cross (P, d, d)``."""

    n: np.ndarray
    sums: np.ndarray
    cross: np.ndarray
    ratio: bool

    def __post_init__(self) -> None:
        for name in ("n", "sums", "cross"):
            value = getattr(self, name)
            if not np.all(np.isfinite(value)) or np.any(np.abs(value) > SUM_LIMIT):
                raise ValueError(f"{name}: must be finite and within +-1e75")
        head = 2 if self.ratio else 1
        pairs, d = self.sums.shape if self.sums.ndim == 2 else (-1, -1)
        if d < head + 1 or self.n.shape != (pairs,) or self.cross.shape != (pairs, d, d):
            raise ValueError("sums: need shapes (P,), (P, d) and (P, d, d) with a covariate")
        if np.any(self.n < 2) or np.any(self.n != np.round(self.n)):
            raise ValueError("n: must be whole numbers of at least 2")
        check_cross(self.n, self.sums, self.cross)
        if self.ratio and np.any(self.sums[:, 1] <= 0):
            raise ValueError("sums: a ratio's denominator total must be positive")

    @classmethod
    def of(cls, groups: Sequence[CovariateSums]) -> StackedSums:
        shapes = {(g.ratio, g.sums.size) for g in groups}
        if len(shapes) != 1:
            raise ValueError("covariates: pairs stacked together need the same shape")
        stacked = object.__new__(cls)  # each group validated itself: no second pass
        for name, value in (
            ("n", np.array([g.n for g in groups], dtype=float)),
            ("sums", np.array([g.sums for g in groups])),
            ("cross", np.array([g.cross for g in groups])),
            ("ratio", groups[0].ratio),
        ):
            object.__setattr__(stacked, name, value)
        return stacked


def _group_parts(g: StackedSums) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A group's estimate, the gradient-weighted sample (co)variances ``S_zz, S_cz, S_cc``."""
    head = 2 if g.ratio else 1
    n = g.n[:, None]
    mean = g.sums / n
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (g.cross - g.sums[:, :, None] * mean[:, None, :]) / (n[:, :, None] - 1)
        if g.ratio:
            estimate = mean[:, 0] / mean[:, 1]
            grad = np.stack([1 / mean[:, 1], -mean[:, 0] / mean[:, 1] ** 2], axis=1)
        else:
            estimate = mean[:, 0]
            grad = np.ones((len(n), 1))
    s_mm = cov[:, :head, :head]
    s_zz = np.einsum("pi,pij,pj->p", grad, s_mm, grad)
    s_cz = np.einsum("pij,pi->pj", cov[:, :head, head:], grad)
    s_cc = cov[:, head:, head:]
    return estimate, s_zz, s_cz, s_cc


def _pseudo_inverse(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moore-Penrose inverses of symmetric positive semi-definite ``(P, k, k)`` matrices and
    their ranks: eigenvalues below ``1e-10`` of the largest count as 0 (a constant or
    collinear covariate then gets no weight, and no degree of freedom)."""
    values, vectors = np.linalg.eigh(matrices)
    keep = values > 1e-10 * np.maximum(values.max(axis=1, keepdims=True), 0)
    with np.errstate(divide="ignore"):
        inverted = np.where(keep, 1 / np.where(keep, values, 1.0), 0.0)
    inverse = np.einsum("pik,pk,pjk->pij", vectors, inverted, vectors)
    return inverse, keep.sum(axis=1)


def adjusted_moments(
    control: StackedSums, treatment: StackedSums
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """Both groups' adjusted estimates and variances of the estimates (module docstring),
    ``theta`` (``(P, k)``) and the variance reduction ``1 - Var_adj(effect) / Var(effect)``."""
    if control.ratio != treatment.ratio or control.sums.shape != treatment.sums.shape:
        raise ValueError("treatment: covariate sums must have control's shape")
    with np.errstate(all="ignore"):  # overflow is checked for and refused by name below
        return _adjusted(control, treatment)


def _adjusted(
    control: StackedSums, treatment: StackedSums
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    head = 2 if control.ratio else 1
    parts = [_group_parts(g) for g in (control, treatment)]
    w_cz = sum((g.n - 1)[:, None] * p[2] for g, p in zip((control, treatment), parts, strict=True))
    w_cc = sum(
        (g.n - 1)[:, None, None] * p[3] for g, p in zip((control, treatment), parts, strict=True)
    )
    if not (np.all(np.isfinite(w_cc)) and np.all(np.isfinite(w_cz))):
        raise ValueError("covariates: sums too large for their covariances in floating point")
    inverse, rank = _pseudo_inverse(w_cc)
    theta = np.einsum("pij,pj->pi", inverse, w_cz)
    # Each fitted slope costs a degree of freedom of the residual variance, as in OLS.
    users = control.n + treatment.n
    dof = np.where(users - 2 - rank >= 1, (users - 2) / np.maximum(users - 2 - rank, 1), np.inf)
    c_pool = (control.sums[:, head:] + treatment.sums[:, head:]) / (control.n + treatment.n)[
        :, None
    ]
    out, raw = [], 0.0
    for g, (estimate, s_zz, s_cz, s_cc) in zip((control, treatment), parts, strict=True):
        shift = np.einsum("pi,pi->p", theta, g.sums[:, head:] / g.n[:, None] - c_pool)
        var = s_zz - 2 * np.einsum("pi,pi->p", theta, s_cz)
        var = np.maximum(var + np.einsum("pi,pij,pj->p", theta, s_cc, theta), 0)
        var_mean = np.where(np.isinf(dof), np.inf, var * np.where(np.isinf(dof), 1, dof)) / g.n
        out.append(Moments(estimate - shift, var_mean, g.n))
        raw = raw + s_zz / g.n
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(raw > 0, 1 - (out[0].var_mean + out[1].var_mean) / raw, 0.0)
    reduction = np.where(np.isfinite(reduction), reduction, np.nan)  # no degree of freedom left
    estimates = (theta, out[0].mean, out[1].mean)
    if not all(np.all(np.isfinite(a)) for a in estimates) or any(
        np.any(np.isnan(m.var_mean)) for m in out
    ):
        raise ValueError("covariates: sums too large or too ill-conditioned for floating point")
    return out[0], out[1], theta, reduction
