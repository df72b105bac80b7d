"""Fixed-horizon tests: two proportions, Welch's t, ratio metrics, non-inferiority.

Effects are treatment minus control; ``alternative="larger"`` tests treatment above control.
Relative effects are ``treatment / control - 1`` with delta-method intervals
(``_inference.relative_effect``); one-sided tests report half-line intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.stats import _inference as inf
from analytics.stats._validation import (
    check_alternative,
    check_choice,
    check_count,
    check_non_negative,
    check_positive,
    check_real,
    check_successes,
    check_unit_open,
)
from analytics.stats.sequential import always_valid_arrays, mixing_variance
from analytics.stats.sufficient import KINDS, SufficientStats, check_kind, moments, stack


def _check_interval(name: str, interval: tuple[float, float]) -> None:
    lower, upper = interval
    if not (math.isnan(lower) or math.isnan(upper)) and lower > upper:
        raise ValueError(f"{name}: lower bound above upper bound")


@dataclass(frozen=True)
class TestResult:
    """A two-sample comparison. ``std_error`` is that of the absolute effect; ``df`` is
    ``inf`` for z-tests."""

    __test__ = False  # not a pytest test class

    p_value: float
    statistic: float
    absolute_effect: float
    absolute_ci: tuple[float, float]
    relative_effect: float
    relative_ci: tuple[float, float]
    control_mean: float = math.nan
    treatment_mean: float = math.nan
    std_error: float = math.nan
    df: float = math.inf
    alpha: float = 0.05
    alternative: str = "two-sided"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value: must lie in [0, 1], got {self.p_value}")
        _check_interval("absolute_ci", self.absolute_ci)
        _check_interval("relative_ci", self.relative_ci)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def _result(
    stat, p, mc, mt, vc, vt, crit, alpha: float, alternative: str, df: Any = math.inf
) -> TestResult:
    """Assemble a ``TestResult`` from (0-d) arrays of one comparison."""
    effect = mt - mc
    se = np.sqrt(vc + vt)
    lo, hi = inf.interval(effect, se, crit, alternative)
    lift, lift_se = inf.relative_effect(mc, mt, vc, vt)
    rlo, rhi = inf.interval(lift, lift_se, crit, alternative)
    return TestResult(
        p_value=float(p),
        statistic=float(stat),
        absolute_effect=float(effect),
        absolute_ci=(float(lo), float(hi)),
        relative_effect=float(lift),
        relative_ci=(float(rlo), float(rhi)),
        control_mean=float(mc),
        treatment_mean=float(mt),
        std_error=float(se),
        df=float(df),
        alpha=alpha,
        alternative=alternative,
    )


def two_proportion_ztest(
    x_control: int,
    n_control: int,
    x_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """z-test of two rates, as statsmodels' ``proportions_ztest([x_t, x_c], [n_t, n_c])``.

    ``z = (p_t - p_c) / sqrt(p (1 - p) (1/n_c + 1/n_t))`` with the pooled rate
    ``p = (x_c + x_t) / (n_c + n_t)``; the interval uses the unpooled standard error
    ``sqrt(p_c q_c / n_c + p_t q_t / n_t)``. Reference: 1000/10000 vs 1100/10000 ->
    z = 2.3066, p = 0.02108.
    """
    alpha = check_unit_open("alpha", alpha)
    alternative = check_alternative(alternative)
    n_c = check_count("n_control", n_control, minimum=1)
    n_t = check_count("n_treatment", n_treatment, minimum=1)
    x_c = check_successes("x_control", x_control, n_c)
    x_t = check_successes("x_treatment", x_treatment, n_t)
    pc, pt = np.float64(x_c / n_c), np.float64(x_t / n_t)
    pooled = (x_c + x_t) / (n_c + n_t)
    se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    stat, p = inf.z_test(pt - pc, se_pooled, alternative)
    vc, vt = pc * (1 - pc) / n_c, pt * (1 - pt) / n_t
    crit = inf.z_critical(alpha, alternative)
    return _result(stat, p, pc, pt, vc, vt, crit, alpha, alternative)


def welch_ttest(
    mean_c: float,
    var_c: float,
    n_c: int,
    mean_t: float,
    var_t: float,
    n_t: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """Welch's unequal-variance t-test from summary statistics (sample variances, ddof=1).

    ``t = (m_t - m_c) / sqrt(s_c^2/n_c + s_t^2/n_t)`` with Welch-Satterthwaite degrees of
    freedom; matches ``scipy.stats.ttest_ind_from_stats(m_t, s_t, n_t, m_c, s_c, n_c,
    equal_var=False)``. The interval uses the same t quantile.
    """
    alpha = check_unit_open("alpha", alpha)
    alternative = check_alternative(alternative)
    mc, mt = check_real("mean_c", mean_c), check_real("mean_t", mean_t)
    sc2, st2 = check_non_negative("var_c", var_c), check_non_negative("var_t", var_t)
    nc, nt = check_count("n_c", n_c, minimum=2), check_count("n_t", n_t, minimum=2)
    vc, vt = np.float64(sc2 / nc), np.float64(st2 / nt)
    df = inf.welch_df(vc, vt, nc, nt)
    stat, p = inf.t_test(np.float64(mt - mc), np.sqrt(vc + vt), df, alternative)
    crit = inf.t_critical(df, alpha, alternative)
    return _result(stat, p, np.float64(mc), np.float64(mt), vc, vt, crit, alpha, alternative, df)


def _as_ratio_stats(group: str, value) -> SufficientStats:
    if isinstance(value, SufficientStats):
        return value
    try:
        numerator, denominator = value
    except (TypeError, ValueError):
        raise ValueError(
            f"{group}: give SufficientStats or a pair (numerators, denominators)"
        ) from None
    return SufficientStats.from_arrays(numerator, denominator)


def ratio_metric_test(
    control: SufficientStats | tuple[Sequence[float], Sequence[float]],
    treatment: SufficientStats | tuple[Sequence[float], Sequence[float]],
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """z-test of a ratio of sums (CTR = clicks / impressions) randomised by user.

    Each group is ``SufficientStats`` with ``n, sum_x, sum_x2, sum_y, sum_y2, sum_xy`` (x the
    user's clicks, y their impressions) or a pair of per-user arrays ``(clicks, impressions)``.
    The variance of ``R = sum x / sum y`` comes from the delta method over users
    (``sufficient.moments``), so correlated impressions of one user are not counted as
    independent trials.
    """
    alpha = check_unit_open("alpha", alpha)
    alternative = check_alternative(alternative)
    groups = {"control": _as_ratio_stats("control", control)}
    groups["treatment"] = _as_ratio_stats("treatment", treatment)
    m = {}
    for name, value in groups.items():
        columns = stack([value])
        check_kind("ratio", columns, name)
        m[name] = moments("ratio", columns)
    c, t = m["control"], m["treatment"]
    effect, se = t.mean - c.mean, np.sqrt(c.var_mean + t.var_mean)
    stat, p = inf.z_test(effect, se, alternative)
    crit = inf.z_critical(alpha, alternative)
    return _result(
        stat[0], p[0], c.mean[0], t.mean[0], c.var_mean[0], t.var_mean[0], crit, alpha, alternative
    )


@dataclass(frozen=True)
class NonInferiorityResult:
    """One-sided test that the treatment is not worse than control by more than the margin.

    ``bound`` is the confidence bound of the absolute effect on the bad side (upper when a rise
    is bad), built from the same standard error and critical value as the test, so that
    ``noninferior`` is exactly "bound on the good side of ``threshold``"; ``threshold`` the
    effect at which harm starts (``margin`` in metric units, or ``margin * control_mean`` for
    relative margins). ``method``: ``fixed-horizon`` or ``always-valid`` (sequential).
    """

    p_value: float
    statistic: float
    absolute_effect: float
    threshold: float
    bound: float
    noninferior: bool
    alpha: float = 0.05
    method: str = "fixed-horizon"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value: must lie in [0, 1], got {self.p_value}")
        if self.noninferior != (self.p_value < self.alpha):
            raise ValueError("noninferior: must equal p_value < alpha")


def noninferiority_test(
    kind: str,
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    margin: float,
    margin_relative: bool = True,
    bad_direction: str = "increase",
    alpha: float = 0.05,
    sequential: bool = False,
    planned_total: int | None = None,
) -> NonInferiorityResult:
    """Guardrail test: H0 "the treatment harms the metric by at least the margin".

    With ``bad_direction="increase"`` (abandonment rate, time to first interaction) harm is
    ``mu_t >= a mu_c + b`` where an absolute margin gives ``a = 1, b = margin`` and a relative
    margin ``a = 1 + margin, b = 0`` (Laster & Johnson, Stat. Med. 2003, for ratio margins).
    The statistic is ``(m_t - a m_c - b) / sqrt(v_t + a^2 v_c)`` and the p-value its lower
    tail (upper tail when a decrease is bad, with ``a = 1 - margin`` or ``b = -margin``):
    normal for proportions (Wald, unpooled: statsmodels' ``test_proportions_2indep(...,
    method="wald")``) and ratios, Welch's t for means. Reject -> non-inferior. The bound is
    ``m_t - m_c + crit * sqrt(v_t + a^2 v_c)`` (the gap's standard error: with a relative
    margin the control's variance counts ``a^2`` times), so bound and decision agree.

    ``sequential=True`` (experiments watched daily) makes the test always valid: the gap's
    normal-mixture confidence sequence (``sequential``, asymptotic, tuned to
    ``planned_total`` users) must exclude harm, i.e. the p-value is ``min(1, 1/L)`` when the gap
    lies on the good side (1 otherwise); a one-sided use of the two-sided sequence, so the
    chance that any look shows a false "pass" stays below ``alpha``.
    """
    kind = check_choice("kind", kind, KINDS)
    margin = check_positive("margin", margin)
    bad_direction = check_choice("bad_direction", bad_direction, ("increase", "decrease"))
    alpha = check_unit_open("alpha", alpha)
    sign = 1.0 if bad_direction == "increase" else -1.0
    cs, ts = stack([control]), stack([treatment])
    check_kind(kind, cs, "control")
    check_kind(kind, ts, "treatment")
    c, t = moments(kind, cs), moments(kind, ts)
    a, b = (1 + sign * margin, 0.0) if margin_relative else (1.0, sign * margin)
    gap = t.mean - a * c.mean - b
    se = np.sqrt(t.var_mean + a**2 * c.var_mean)
    alternative = "smaller" if sign > 0 else "larger"
    effect = t.mean - c.mean
    if sequential:
        tau2 = mixing_variance(
            se**2, c.n + t.n, alpha=alpha, method="asymptotic",
            planned_total=planned_total, mixing_sd=None,
        )  # fmt: skip
        p_two, lower, upper = always_valid_arrays(gap, se**2, tau2, alpha)
        good_side = gap * sign < 0
        p = np.where(good_side, p_two, 1.0)
        stat = inf._statistic(gap, se)
        half = (upper - lower) / 2
        bound = effect + sign * half
    elif kind == "mean":
        df = inf.welch_df(a**2 * c.var_mean, t.var_mean, c.n, t.n)
        stat, p = inf.t_test(gap, se, df, alternative)
        crit = inf.t_critical(df, alpha, alternative)
    else:
        stat, p = inf.z_test(gap, se, alternative)
        crit = np.asarray(inf.z_critical(alpha, alternative))
    if not sequential:
        bound = effect + sign * np.asarray(crit) * se
    p_value = float(p[0])
    return NonInferiorityResult(
        p_value=p_value,
        statistic=float(stat[0]),
        absolute_effect=float(effect[0]),
        threshold=float((a - 1) * c.mean[0] + b),
        bound=float(np.asarray(bound).ravel()[0]),
        noninferior=p_value < alpha,
        alpha=alpha,
        method="always-valid" if sequential else "fixed-horizon",
    )
