"""Vectorised inference from an estimate and its standard error (arrays broadcast).

Every public test of the package is a thin wrapper over these functions, and so is the batch
path ``analyze_many``: one code path, so a report of 1,000 pairs agrees with single calls.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

# Arrays broadcast; numpy scalars and floats are accepted where arrays are.
Array = np.ndarray | np.floating | float


def _tail(alpha: float, alternative: str) -> float:
    return alpha / 2 if alternative == "two-sided" else alpha


def _p_value(statistic: Array, alternative: str, sf, cdf) -> np.ndarray:
    if alternative == "two-sided":
        return np.minimum(1.0, 2 * sf(np.abs(statistic)))
    return sf(statistic) if alternative == "larger" else cdf(statistic)


def _statistic(effect: Array, se: Array) -> np.ndarray:
    """``effect / se`` with 0/0 -> 0 (identical groups) and x/0 -> +-inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = effect / se
    return np.where(se > 0, stat, np.where(effect == 0, 0.0, np.copysign(np.inf, effect)))


def interval(
    effect: Array, se: Array, crit: Array, alternative: str
) -> tuple[np.ndarray, np.ndarray]:
    """``effect -+ crit * se``; one-sided tests give a half-line (the other end infinite)."""
    effect = np.asarray(effect, dtype=float)
    half = np.asarray(crit) * se
    lower = effect - half if alternative != "smaller" else np.full_like(effect, -np.inf)
    upper = effect + half if alternative != "larger" else np.full_like(effect, np.inf)
    return lower, upper


def z_critical(alpha: float, alternative: str) -> float:
    """``z_{1-alpha/2}`` (two-sided) or ``z_{1-alpha}``."""
    return float(special.ndtri(1 - _tail(alpha, alternative)))


def t_critical(df: Array, alpha: float, alternative: str) -> np.ndarray:
    """Student's t quantile ``t_{1-alpha/2, df}`` (two-sided) or ``t_{1-alpha, df}``."""
    return stats.t.isf(_tail(alpha, alternative), df)


def z_test(effect: Array, se: Array, alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """Statistic ``effect / se`` and its normal p-value."""
    stat = _statistic(effect, se)
    return stat, _p_value(stat, alternative, _norm_sf, special.ndtr)


def _norm_sf(x: Array) -> np.ndarray:
    return special.ndtr(-x)


def t_test(effect: Array, se: Array, df: Array, alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """Statistic ``effect / se`` and its Student-t p-value with ``df`` degrees of freedom."""
    stat = _statistic(effect, se)
    p = _p_value(stat, alternative, lambda x: stats.t.sf(x, df), lambda x: stats.t.cdf(x, df))
    return stat, p


def welch_df(var_mean_c: Array, var_mean_t: Array, n_c: Array, n_t: Array) -> np.ndarray:
    """Welch-Satterthwaite: ``(v_c + v_t)^2 / (v_c^2/(n_c-1) + v_t^2/(n_t-1))``, ``v = s^2/n``.

    Identical, constant groups (both variances 0) get ``n_c + n_t - 2``.
    """
    num = (var_mean_c + var_mean_t) ** 2
    den = var_mean_c**2 / (n_c - 1) + var_mean_t**2 / (n_t - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = num / den
    return np.where(den > 0, df, n_c + n_t - 2.0)


def relative_effect(
    mean_c: Array, mean_t: Array, var_mean_c: Array, var_mean_t: Array
) -> tuple[np.ndarray, np.ndarray]:
    """Lift ``mean_t / mean_c - 1`` and its delta-method standard error.

    ``Var(m_t / m_c) ~ v_t / m_c^2 + m_t^2 v_c / m_c^4`` for independent groups (first-order
    Taylor expansion; Deng, Knoblich & Lu, KDD 2018, sec. 3). NaN where ``mean_c == 0``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(mean_c != 0, mean_t / mean_c - 1, np.nan)
        se = np.sqrt(var_mean_t / mean_c**2 + mean_t**2 * var_mean_c / mean_c**4)
    return lift, np.where(mean_c != 0, se, np.nan)
