"""CUPED: variance reduction with a pre-experiment covariate (Deng, Xu, Kohavi & Walker,
"Improving the sensitivity of online controlled experiments by utilizing pre-experiment
data", WSDM 2013).

``y_adj = y - theta (c - mean(c))`` with ``theta = cov(y, c) / var(c)`` estimated on both
groups pooled, so the adjustment is the same for every user and the difference in means stays
unbiased. The variance of the metric shrinks by the factor ``1 - corr(y, c)^2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from analytics.stats.sufficient import Moments


@dataclass(frozen=True)
class CupedResult:
    """Adjusted per-user values, the coefficient and the variance reduction achieved."""

    adjusted: np.ndarray
    theta: float
    variance_reduction: float
    correlation: float

    def __post_init__(self) -> None:
        if not -1e-9 <= self.variance_reduction <= 1 + 1e-9:
            raise ValueError("variance_reduction: must lie in [0, 1]")


def cuped_adjust(
    metric: Sequence[float] | np.ndarray,
    covariate: Sequence[float] | np.ndarray,
    *,
    theta: float | None = None,
) -> CupedResult:
    """Adjust per-user ``metric`` values with their pre-experiment ``covariate``.

    Pass both groups' users together (the pooled ``theta`` keeps the comparison unbiased),
    then split ``adjusted`` by group and test it as any mean. ``variance_reduction`` is
    ``1 - var(adjusted) / var(metric)`` (``corr^2`` with the fitted ``theta``). A constant
    covariate carries no information: ``theta = 0``.
    """
    y = np.asarray(metric, dtype=float)
    c = np.asarray(covariate, dtype=float)
    if y.ndim != 1 or y.size < 2:
        raise ValueError("metric: needs a one-dimensional array of at least 2 users")
    if c.shape != y.shape:
        raise ValueError("covariate: needs one value per user of metric")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(c))):
        raise ValueError("metric: values and covariates must be finite")
    with np.errstate(over="ignore", invalid="ignore"):
        var_c = c.var(ddof=1)
        var_y = y.var(ddof=1)
        cov = np.cov(y, c, ddof=1)[0, 1]
    if not (np.isfinite(var_c) and np.isfinite(var_y) and np.isfinite(cov)):
        raise ValueError("metric: values too large for their variance in floating point")
    if theta is None:
        theta = float(cov / var_c) if var_c > 0 else 0.0
    elif isinstance(theta, bool) or not isinstance(theta, Real) or not math.isfinite(theta):
        raise ValueError(f"theta: must be a finite number, got {theta!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        adjusted = y - theta * (c - c.mean())
    if not (np.all(np.isfinite(adjusted)) and math.isfinite(theta) and np.isfinite(var_y)):
        raise ValueError("metric: values too large to adjust in floating point")
    with np.errstate(over="ignore", invalid="ignore"):
        reduction = 1 - adjusted.var(ddof=1) / var_y if var_y > 0 else 0.0
    if not np.isfinite(reduction):
        raise ValueError("metric: values too large for their variance in floating point")
    corr = float(cov / np.sqrt(var_c * var_y)) if var_c > 0 and var_y > 0 else 0.0
    return CupedResult(adjusted, float(theta), float(max(reduction, 0.0)), corr)


def cuped_moments(
    control: dict[str, np.ndarray], treatment: dict[str, np.ndarray]
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """CUPED-adjusted group means and variances of the means from sums (vectorised).

    From ``n, sum_x, sum_x2, sum_c, sum_c2, sum_xc`` per group: pooled
    ``theta = S_xc / S_cc`` (centred sums over both groups), adjusted means
    ``m_g - theta (c_g - c_pool)`` and unit variances ``s_x^2 - 2 theta s_xc + theta^2 s_c^2``
    within each group (sample variances, ``n - 1``). Returns both groups' moments, ``theta``
    and the variance reduction ``1 - Var_adj(effect) / Var(effect)``.
    """
    n = control["n"] + treatment["n"]

    def centred(group: dict[str, np.ndarray], key: str, a: str, b: str) -> np.ndarray:
        """``sum(a b) - sum(a) sum(b) / n``: n - 1 times the sample covariance."""
        return group[key] - group[a] * group[b] / group["n"]

    both = {k: control[k] + treatment[k] for k in ("n", "sum_x", "sum_c", "sum_xc", "sum_c2")}
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        s_cc = centred(both, "sum_c2", "sum_c", "sum_c")
        theta = np.where(s_cc > 0, centred(both, "sum_xc", "sum_x", "sum_c") / s_cc, 0.0)
        c_pool = both["sum_c"] / n
        raw_total = 0.0
        for g in (control, treatment):
            dof = g["n"] - 1
            var_x = np.maximum(centred(g, "sum_x2", "sum_x", "sum_x"), 0) / dof
            var_c = np.maximum(centred(g, "sum_c2", "sum_c", "sum_c"), 0) / dof
            cov = centred(g, "sum_xc", "sum_x", "sum_c") / dof
            var_adj = np.maximum(var_x - 2 * theta * cov + theta**2 * var_c, 0)
            shift = theta * (g["sum_c"] / g["n"] - c_pool)
            out.append(Moments(g["sum_x"] / g["n"] - shift, var_adj / g["n"], g["n"]))
            raw_total = raw_total + var_x / g["n"]
        adjusted_total = out[0].var_mean + out[1].var_mean
        reduction = np.where(raw_total > 0, 1 - adjusted_total / raw_total, 0.0)
    return out[0], out[1], theta, reduction
