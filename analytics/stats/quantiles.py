"""Quantile metrics: the difference of an arm's quantiles (median, p90) with a valid interval.

The estimate
------------
Each arm's quantile at level ``p`` is the sample quantile of its observations
(``numpy.quantile``'s default, Hyndman & Fan's type 7, the same as
``scipy.stats.quantile(x, p)``). The difference is ``Q_t - Q_c`` and the relative difference
``Q_t / Q_c - 1``.

The unit, and why the interval is built this way
-------------------------------------------------
Users are randomised, so users are the independent units. Two cases share one formula:

* **per-user values** (one value per user: a user's total watch seconds, their mean time to
  first interaction): the observations are independent;
* **per-event values clustered by user** (every watch duration of every user, ``clusters``
  naming each observation's user): observations of one user are correlated, and an interval
  that treats them as independent is too narrow.

The variance comes from the empirical CDF at the estimated quantile (Bahadur's
representation: ``Q_hat - Q ~ -(F_hat(Q) - p) / f(Q)``). ``F_hat(q) = sum_i S_i / sum_i N_i``
with ``S_i`` user ``i``'s observations at or below ``q`` and ``N_i`` all of them is a ratio of
per-user sums, so its variance is the delta method's (Deng, Knoblich & Lu, "Applying the
Delta Method in Metric Analytics", KDD 2018, on quantile metrics; what Eppo, Statsig, LinkedIn
use for percentile metrics)::

    Var(F_hat) = sum_i (S_i - p N_i)^2 / (sum_i N_i)^2

which for one value per user is about ``p (1 - p) / n``, the binomial variance behind the classical
order-statistic interval. The density ``f(Q)`` is never estimated: the interval of the level,
``p -+ z sigma_F``, is mapped through the sample quantile function (Woodruff, JASA 1952; Deng
et al.'s "outer" interval), ``[Q_hat(p - z sigma_F), Q_hat(p + z sigma_F)]``, and the standard
error is backed out of its width, ``se = (U - L) / (2 z)`` with ``z = z_{1-alpha/2}``. The two
arms are independent, so the difference has ``se_d = sqrt(se_c^2 + se_t^2)``, a normal
interval ``d -+ z se_d`` and the z-test's p-value; the relative difference has the delta
method's ``se_r = sqrt(se_t^2 / Q_c^2 + Q_t^2 se_c^2 / Q_c^4)``. ``tests/analytics/stats/
test_quantiles.py`` checks the numbers by hand and against scipy, and the A/A false positive
rate and coverage on log-normal user-clustered data by simulation (``benchmarks/quantiles.py``
at full size).

A user bootstrap would also be valid, but costs hundreds of passes over every user per report
and per day; this interval costs three partial sorts.

Degenerate data (no confident answer without reason)
----------------------------------------------------
* An arm with fewer than ``MIN_UNITS_BEYOND / min(p, 1 - p)`` users (10 users expected beyond
  the quantile: 20 for a median, 100 for a p90), or whose level interval ``p -+ z sigma_F``
  leaves ``(0, 1)``, has "not enough data": p = 1, no interval.
* An arm whose quantile lies inside a block of tied values (``L == U``: most users watched 0
  seconds) has a zero-width interval; when both arms do there is nothing to test ("not
  enough data", p = 1). With one, the other arm's spread carries the test (the tied arm's
  quantile is pinned down at this sample size).
* The relative difference needs a control quantile distinguishable from 0
  (``|Q_c| > z se_c``), else it is "not meaningful" (NaN).

Sequential experiments: the estimate is asymptotically normal with the variance above (an
average of per-user terms by Bahadur's representation), so the always-valid p-value and
confidence sequence are the normal-mixture ones of :mod:`analytics.stats.sequential`, applied
to ``(d, se_d^2)`` exactly as for means and ratios (an asymptotic guarantee, like theirs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.stats import _inference as inf
from analytics.stats._validation import (
    SUM_LIMIT,
    check_alternative,
    check_choice,
    check_decision,
    check_positive,
    check_unit_open,
)
from analytics.stats.frequentist import NonInferiorityResult
from analytics.stats.sequential import always_valid_arrays, mixing_variance

MIN_UNITS_BEYOND = 10
METHOD = "quantile difference, delta-method (Woodruff) interval"

Values = Sequence[float] | np.ndarray


def quantile_label(quantile: float) -> str:
    """``p50``, ``p90``, ``p99.9``: how reports name a quantile level."""
    return f"p{100 * quantile:.10g}"


def min_units(quantile: float) -> int:
    """Users an arm needs for the ``quantile`` (``MIN_UNITS_BEYOND`` expected beyond it)."""
    return math.ceil(MIN_UNITS_BEYOND / min(quantile, 1 - quantile) - 1e-9)


@dataclass(frozen=True)
class ArmQuantile:
    """One arm's sample quantile, its ``1 - alpha`` interval and standard error.

    ``observations`` values from ``units`` users; ``problem`` says why there is no interval
    ("" when there is one): ``lower``, ``upper`` and ``std_error`` are then NaN.
    """

    quantile: float
    value: float
    lower: float
    upper: float
    std_error: float
    level_std_error: float
    observations: int
    units: int
    problem: str = ""

    def __post_init__(self) -> None:
        check_unit_open("quantile", self.quantile)
        if not self.problem and not self.lower <= self.value <= self.upper:
            raise ValueError("lower: the interval must contain the estimate")
        if not self.problem and not self.std_error >= 0:
            raise ValueError(f"std_error: must be non-negative, got {self.std_error}")


def _check_values(name: str, values: Values) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a sequence of numbers") from None
    if x.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: values must be finite (no NaN or infinity)")
    if np.any(np.abs(x) > SUM_LIMIT):
        raise ValueError(f"{name}: values must lie within +-1e75")
    return x


def _cluster_sizes(name: str, clusters: Values | None, size: int) -> np.ndarray | None:
    """Index of each observation's user (0 .. users - 1), or None for one value per user."""
    if clusters is None:
        return None
    labels = np.asarray(clusters)
    if labels.ndim != 1 or labels.size != size:
        raise ValueError(f"{name}: needs one user label per value ({size})")
    return np.unique(labels, return_inverse=True)[1].ravel()


def arm_quantile(
    values: Values,
    quantile: float,
    *,
    clusters: Values | None = None,
    alpha: float = 0.05,
    name: str = "values",
) -> ArmQuantile:
    """The sample quantile of ``values`` at level ``quantile`` and its outer interval.

    ``clusters``: the user of each value when values are per event (any hashable labels);
    omit it when there is one value per user. See the module docstring for the formulas.
    """
    quantile = check_unit_open("quantile", quantile)
    alpha = check_unit_open("alpha", alpha)
    x = _check_values(name, values)
    user_of = _cluster_sizes(f"{name}_clusters", clusters, x.size)
    value = float(np.quantile(x, quantile))
    below = (x <= value).astype(float)
    if user_of is None:
        units, s = x.size, below - quantile
    else:
        counts = np.bincount(user_of).astype(float)
        units, s = counts.size, np.bincount(user_of, weights=below) - quantile * counts
    # np.sum of squares, not s @ s: BLAS's threads made the dot product 30x slower on a busy
    # machine (the whole look's cost).
    level_se = math.sqrt(float(np.sum(s * s))) / x.size
    nan = math.nan
    if units < min_units(quantile):
        problem = (
            f"{units} users; a {quantile_label(quantile)} needs at least {min_units(quantile)} "
            f"({MIN_UNITS_BEYOND} expected beyond it)"
        )
        return ArmQuantile(quantile, value, nan, nan, nan, level_se, x.size, units, problem)
    z = inf.z_critical(alpha, "two-sided")
    low_level, high_level = quantile - z * level_se, quantile + z * level_se
    if not 0 < low_level < high_level < 1:
        problem = (
            f"the interval of the level {quantile_label(quantile)} leaves (0, 1): "
            "too few users around the quantile"
        )
        return ArmQuantile(quantile, value, nan, nan, nan, level_se, x.size, units, problem)
    lower, upper = (float(v) for v in np.quantile(x, [low_level, high_level]))
    # Interpolation can put a bound a rounding error past the estimate; the estimate lies
    # between the two quantiles it sits between.
    lower, upper = min(lower, value), max(upper, value)
    std_error = (upper - lower) / (2 * z)
    return ArmQuantile(quantile, value, lower, upper, std_error, level_se, x.size, units)


@dataclass(frozen=True)
class QuantileDifference:
    """Treatment minus control at one quantile level, with the field names of
    ``MetricAnalysis`` for what they share (``absolute_*``, ``relative_*``, ``p_value``,
    ``significant``, ``note``, ``sequential_*``), so a report shows either alike.

    ``note`` starts with "not enough data" when nothing can be concluded (then p = 1 and the
    intervals are NaN); ``sequential_*`` are None unless asked for.
    """

    quantile: float
    control: ArmQuantile
    treatment: ArmQuantile
    absolute_effect: float
    absolute_ci: tuple[float, float]
    std_error: float
    statistic: float
    p_value: float
    relative_effect: float
    relative_ci: tuple[float, float]
    relative_std_error: float
    significant: bool
    alpha: float
    alternative: str
    method: str = METHOD
    note: str = ""
    sequential_p_value: float | None = None
    sequential_ci: tuple[float, float] | None = None
    chance_to_win: float | None = None  # not computed for quantiles

    def __post_init__(self) -> None:
        check_unit_open("quantile", self.quantile)
        if self.treatment.quantile != self.control.quantile:
            raise ValueError("treatment: its quantile level differs from the control's")
        check_decision(
            self.p_value, self.absolute_ci, self.significant, self.alpha, self.sequential_p_value
        )

    @property
    def control_n(self) -> int:
        return self.control.units

    @property
    def treatment_n(self) -> int:
        return self.treatment.units

    @property
    def enough_data(self) -> bool:
        return not self.note.startswith("not enough data")


def _not_enough(
    control: ArmQuantile, treatment: ArmQuantile, alpha: float, alternative: str, why: str
) -> QuantileDifference:
    nan = math.nan
    effect = treatment.value - control.value
    lift = treatment.value / control.value - 1 if control.value != 0 else nan
    return QuantileDifference(
        control.quantile, control, treatment, effect, (nan, nan), nan, 0.0, 1.0, lift,
        (nan, nan), nan, False, alpha, alternative, note=f"not enough data: {why}",
    )  # fmt: skip


def compare_quantiles(
    control: ArmQuantile,
    treatment: ArmQuantile,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    sequential: bool = False,
    planned_total: int | None = None,
) -> QuantileDifference:
    """The difference of two arms' quantiles (``arm_quantile``), its interval and p-value.

    ``alternative``: "two-sided", "larger" (treatment above control) or "smaller" (one-sided
    intervals are half-lines). ``sequential`` adds the always-valid p-value and confidence
    sequences (asymptotic method tuned to ``planned_total`` users; see
    :mod:`analytics.stats.sequential`), which then decide ``significant`` and replace both
    intervals (one interval per decision).
    """
    alpha = check_unit_open("alpha", alpha)
    alternative = check_alternative(alternative)
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, ArmQuantile):
            raise ValueError(f"{name}: must be an ArmQuantile (see arm_quantile)")
    if treatment.quantile != control.quantile:
        raise ValueError("treatment: its quantile level differs from the control's")
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.problem:
            return _not_enough(control, treatment, alpha, alternative, f"{name}: {arm.problem}")
    label = quantile_label(control.quantile)
    if control.std_error == 0 and treatment.std_error == 0:
        why = f"both arms' {label} lies on a tied value (no spread around it)"
        return _not_enough(control, treatment, alpha, alternative, why)
    notes = [
        f"the {name}'s {label} lies on a tied value: its interval has zero width"
        for name, arm in (("control", control), ("treatment", treatment))
        if arm.std_error == 0
    ]
    effect = treatment.value - control.value
    se = math.hypot(control.std_error, treatment.std_error)
    stat, p = (float(v) for v in inf.z_test(effect, se, alternative))
    crit = inf.z_critical(alpha, alternative)
    lo, hi = (float(v) for v in inf.interval(effect, se, crit, alternative))
    lift, lift_se = (
        float(v)
        for v in inf.relative_effect(
            np.float64(control.value),
            np.float64(treatment.value),
            np.float64(control.std_error**2),
            np.float64(treatment.std_error**2),
        )
    )
    if not abs(control.value) > inf.z_critical(alpha, "two-sided") * control.std_error:
        lift, lift_se = math.nan, math.nan
        notes.append(
            f"relative effect not meaningful: the control's {label} is not distinguishable from 0"
        )
    rlo, rhi = (float(v) for v in inf.interval(lift, lift_se, crit, alternative))
    sequential_p, sequential_ci = None, None
    if sequential:
        n_total = control.units + treatment.units
        sequential_p, (lo, hi) = _always_valid(effect, se, n_total, alpha, alternative,
                                               planned_total)  # fmt: skip
        sequential_ci = (lo, hi)
        if math.isfinite(lift_se):
            _, (rlo, rhi) = _always_valid(lift, lift_se, n_total, alpha, alternative, planned_total)
    decisive = p if sequential_p is None else sequential_p
    return QuantileDifference(
        control.quantile, control, treatment, effect, (lo, hi), se, stat, p, lift, (rlo, rhi),
        lift_se, decisive < alpha, alpha, alternative, note="; ".join(notes),
        sequential_p_value=sequential_p, sequential_ci=sequential_ci,
    )  # fmt: skip


def _always_valid(
    effect: float,
    se: float,
    n_total: int,
    alpha: float,
    alternative: str,
    planned_total: int | None,
) -> tuple[float, tuple[float, float]]:
    """Always-valid p-value and sequence at one look; one-sided: reject on its side only,
    with a half-line (as ``analysis._one_sided``: conservative, inside the two-sided test)."""
    tau2 = mixing_variance(
        np.float64(se**2), np.float64(n_total), alpha=alpha, method="asymptotic",
        planned_total=planned_total, mixing_sd=None,
    )  # fmt: skip
    p, lo, hi = (float(v) for v in always_valid_arrays(effect, se**2, tau2, alpha))
    if alternative == "larger":
        return (p if effect > 0 else 1.0), (lo, math.inf)
    if alternative == "smaller":
        return (p if effect < 0 else 1.0), (-math.inf, hi)
    return p, (lo, hi)


def quantile_difference(
    control: Values,
    treatment: Values,
    *,
    quantile: float,
    control_clusters: Values | None = None,
    treatment_clusters: Values | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    sequential: bool = False,
    planned_total: int | None = None,
) -> QuantileDifference:
    """Treatment minus control at the ``quantile`` (0.5 median, 0.9 p90) of two arms' values.

    One value per user, or per event with ``*_clusters`` naming each value's user (the
    interval then accounts for the users' correlated events). Invalid input raises
    ``ValueError`` naming the argument (``"control: values must be finite ..."``); degenerate
    data gives a result whose ``note`` says "not enough data" and why. See the module
    docstring for the method and its reference.
    """
    return compare_quantiles(
        arm_quantile(control, quantile, clusters=control_clusters, alpha=alpha, name="control"),
        arm_quantile(
            treatment, quantile, clusters=treatment_clusters, alpha=alpha, name="treatment"
        ),
        alpha=alpha,
        alternative=alternative,
        sequential=sequential,
        planned_total=planned_total,
    )


def quantile_noninferiority(
    control: ArmQuantile,
    treatment: ArmQuantile,
    *,
    margin: float,
    margin_relative: bool = True,
    bad_direction: str = "increase",
    alpha: float = 0.05,
    sequential: bool = False,
    planned_total: int | None = None,
) -> NonInferiorityResult:
    """Guardrail on a quantile (p90 time to first interaction may not rise by more than 5 %):
    H0 "the treatment's quantile is worse than the control's by at least the margin".

    As ``frequentist.noninferiority_test``, on the quantiles: harm starts at
    ``Q_t = a Q_c + b`` (relative margin ``a = 1 +- margin``, absolute ``b = +-margin``), the
    gap ``Q_t - a Q_c - b`` has ``se = sqrt(se_t^2 + a^2 se_c^2)``, a one-sided z-test (reject
    -> non-inferior) and the bound ``Q_t - Q_c +- z se`` on the bad side, so bound and decision
    agree. ``sequential``: the gap's always-valid sequence must exclude harm. An arm without an
    interval (``ArmQuantile.problem``) or two tied arms raise ``ValueError`` naming the arm.
    """
    margin = check_positive("margin", margin)
    bad_direction = check_choice("bad_direction", bad_direction, ("increase", "decrease"))
    alpha = check_unit_open("alpha", alpha)
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, ArmQuantile):
            raise ValueError(f"{name}: must be an ArmQuantile (see arm_quantile)")
        if arm.problem:
            raise ValueError(f"{name}: not enough data: {arm.problem}")
    if control.std_error == 0 and treatment.std_error == 0:
        raise ValueError("control: not enough data: both arms' quantile lies on a tied value")
    sign = 1.0 if bad_direction == "increase" else -1.0
    a, b = (1 + sign * margin, 0.0) if margin_relative else (1.0, sign * margin)
    gap = treatment.value - a * control.value - b
    se = math.sqrt(treatment.std_error**2 + a**2 * control.std_error**2)
    effect = treatment.value - control.value
    statistic = float(inf.z_test(gap, se, "two-sided")[0])
    if sequential:
        tau2 = mixing_variance(
            np.float64(se**2), np.float64(control.units + treatment.units), alpha=alpha,
            method="asymptotic", planned_total=planned_total, mixing_sd=None,
        )  # fmt: skip
        p_two, lower, upper = (float(v) for v in always_valid_arrays(gap, se**2, tau2, alpha))
        p = p_two if gap * sign < 0 else 1.0
        bound = effect + sign * (upper - lower) / 2
    else:
        alternative = "smaller" if sign > 0 else "larger"
        p = float(inf.z_test(gap, se, alternative)[1])
        bound = effect + sign * inf.z_critical(alpha, alternative) * se
    return NonInferiorityResult(
        p_value=p, statistic=statistic, absolute_effect=effect,
        threshold=(a - 1) * control.value + b, bound=bound, noninferior=p < alpha,
        alpha=alpha, method="always-valid" if sequential else "fixed-horizon",
    )  # fmt: skip
