"""An off-policy estimate with its interval, effective sample size and coverage warnings.

Every estimator here has the form ``V = sum_c (sum_i a_ic) / (sum_i b_ic)`` over per-list
numerators ``a`` and denominators ``b`` (``b = 1`` for plain averages, ``b = w`` for the
self-normalised forms, one column ``c`` per position). Intervals, stated in each result:

- ``"normal"``: the influence function of list ``i`` is
  ``psi_i = sum_c (a_ic - V_c b_ic) / mean_i(b_ic)``; lists of one user are summed, so the
  variance is clustered by user: ``SE^2 = U / (U - 1) * sum_u (sum_{i in u} psi_i)^2 / n^2``
  (the sandwich / delta-method variance of a ratio of means; Deng, Lu and Litz 2017).
- ``"bootstrap"``: users resampled with replacement, the estimate recomputed from the
  resampled users' sums, percentile interval (Efron and Tibshirani 1993, ch. 13).

Effective sample size (Kish 1965): ``(sum w)^2 / sum w^2`` per position, the smallest over
positions. Coverage warnings: a small effective sample (few logged lists look like the
candidate's) and a mean importance weight below 1 (under full support ``E[w] = 1``; less means
the candidate puts probability where the logging policy puts none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

INTERVALS = ("normal", "bootstrap")


@dataclass(frozen=True)
class OffPolicyEstimate:
    """A candidate's estimated value per list (expected reward summed over positions)."""

    estimator: str
    value: float
    std_error: float
    ci: tuple[float, float]
    interval_method: str
    n_lists: int
    n_users: int
    effective_sample_size: float
    mean_weight: float = 1.0
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"value: the {self.estimator} estimate is not finite")
        if self.ci[0] > self.ci[1]:
            raise ValueError("ci: lower bound above upper bound")

    @property
    def poor_coverage(self) -> bool:
        return bool(self.warnings)


@dataclass(frozen=True)
class IntervalOptions:
    """How to interval an estimate: ``method`` in ``INTERVALS``, level ``1 - alpha``."""

    method: str = "normal"
    alpha: float = 0.05
    n_bootstrap: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in INTERVALS:
            raise ValueError(
                f"interval: must be one of {', '.join(INTERVALS)}; got {self.method!r}"
            )
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha: must lie strictly between 0 and 1, got {self.alpha}")
        if self.method == "bootstrap" and self.n_bootstrap < 100:
            raise ValueError(f"n_bootstrap: must be at least 100, got {self.n_bootstrap}")


def _user_sums(values: np.ndarray, users: np.ndarray, n_users: int) -> np.ndarray:
    columns = [np.bincount(users, weights=column, minlength=n_users) for column in values.T]
    return np.column_stack(columns)


def ratio_value(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """``V_c = sum_i a_ic / sum_i b_ic`` per column."""
    totals = denominators.sum(axis=0)
    if np.any(totals <= 0):
        raise ValueError("target_propensities: the candidate gives no weight to any logged list")
    return numerators.sum(axis=0) / totals


def interval(
    numerators: np.ndarray,
    denominators: np.ndarray,
    users: np.ndarray,
    n_users: int,
    options: IntervalOptions,
) -> tuple[float, float, tuple[float, float], str]:
    """Value, standard error, interval and the interval's description."""
    per_column = ratio_value(numerators, denominators)
    value = float(per_column.sum())
    n = numerators.shape[0]
    influence = (numerators - per_column * denominators) / denominators.mean(axis=0)
    clustered = _user_sums(influence.sum(axis=1, keepdims=True), users, n_users)[:, 0]
    correction = n_users / (n_users - 1) if n_users > 1 else math.inf
    se = math.sqrt(correction * float(np.sum(clustered**2))) / n
    if options.method == "normal":
        z = float(stats.norm.isf(options.alpha / 2))
        grouped = "user" if n_users < n else "list (each list its own user)"
        return value, se, (value - z * se, value + z * se), f"normal, clustered by {grouped}"
    rng = np.random.default_rng(options.seed)
    user_num = _user_sums(numerators, users, n_users)
    user_den = _user_sums(denominators, users, n_users)
    draws = np.empty(options.n_bootstrap)
    for b in range(options.n_bootstrap):
        counts = np.bincount(rng.integers(n_users, size=n_users), minlength=n_users)
        den = counts @ user_den
        draws[b] = np.sum(counts @ user_num / np.where(den > 0, den, np.nan))
    draws = draws[np.isfinite(draws)]
    lower, upper = np.quantile(draws, [options.alpha / 2, 1 - options.alpha / 2])
    method = f"percentile bootstrap over users ({options.n_bootstrap} resamples)"
    return value, se, (float(lower), float(upper)), method


def coverage(
    raw_weights: np.ndarray, *, min_ess_fraction: float = 0.01, weight_tolerance: float = 0.05
) -> tuple[float, float, tuple[str, ...]]:
    """Effective sample size (smallest over positions), mean raw weight (smallest over
    positions) and the coverage warnings."""
    n = raw_weights.shape[0]
    sums, squares = raw_weights.sum(axis=0), (raw_weights**2).sum(axis=0)
    ess_by_position = np.where(squares > 0, sums**2 / np.where(squares > 0, squares, 1), 0.0)
    ess = float(ess_by_position.min())
    means = raw_weights.mean(axis=0)
    errors = raw_weights.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(means)
    notes: list[str] = []
    if ess < min_ess_fraction * n:
        notes.append(
            f"effective sample size {ess:.0f} of {n} logged lists (< {min_ess_fraction:.0%}): "
            "the candidate's lists are rarely served by the logging policy"
        )
    for position, (mean, error) in enumerate(zip(means, errors, strict=True)):
        if mean < 1 - max(weight_tolerance, 3 * error):
            notes.append(
                f"position {position + 1}: mean importance weight {mean:.3f}, expected 1: the "
                "candidate shows items the logging policy never shows there (poor support)"
            )
    return ess, float(means.min()), tuple(notes)
