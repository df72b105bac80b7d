"""Experiment planning in one call: sizes, runtime, achieved power and the power curve.

Used by the planner page, ``POST /api/v1/stats/sample-size`` and the experiment's own
estimate (``experiments.selectors.power_estimate``); composes ``power`` and, for quantiles,
winsorised means and CUPED, ``metric_planning``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from analytics.stats import metric_planning as mp
from analytics.stats._validation import (
    check_alpha_power,
    check_alternative,
    check_choice,
    check_count,
    check_positive,
    check_real,
    check_unit_open,
)
from analytics.stats.power import (
    SampleSize,
    _check_direction,
    _normal_power,
    _sample_size,
    _solve_size,
    power_means,
    power_proportions,
    runtime_days,
    sample_size_means,
    sample_size_proportions,
)
from analytics.stats.sequential import check_looks, fixed_horizon_equivalent_alpha

METRICS = ("proportion", "mean", "quantile")


@dataclass(frozen=True)
class PowerCurvePoint:
    """Power at ``mde_absolute`` (``mde_relative`` of the baseline; NaN without one)."""

    mde_absolute: float
    mde_relative: float
    power: float


@dataclass(frozen=True)
class ExperimentPlan:
    """Users per group, expected days and the power curve at the planned size; ``looks``:
    the planned reads of a sequential plan (1 for a fixed-horizon one); ``alternative``:
    the sides of the planned test; ``std``: the per-user standard deviation a mean plan
    used (capped, CUPED-adjusted), NaN for other metrics."""

    metric: str
    sample_size: SampleSize
    mde_absolute: float
    mde_relative: float
    achieved_power: float
    expected_days: int | None
    curve: tuple[PowerCurvePoint, ...]
    sequential: bool = False
    test: str = ""
    looks: int = 1
    alternative: str = "two-sided"
    std: float = math.nan

    def __post_init__(self) -> None:
        if not 0 < self.achieved_power <= 1:
            raise ValueError("achieved_power: must lie in (0, 1]")
        if self.expected_days is not None and self.expected_days < 1:
            raise ValueError("expected_days: must be at least 1")


@dataclass(frozen=True)
class _Sized:
    """One metric's plan before the curve: size, MDE, power as a function of the effect."""

    size: SampleSize
    absolute: float
    baseline: float | None
    room: float
    power_at: Callable[[float], float]
    test: str
    std: float = math.nan


def _check_options(
    metric: str,
    quantile: float | None,
    winsorize_percentile: float | None,
    variance_reduction: float,
    lognormal_sigma: float | None,
    baseline_values: mp.Values | None,
) -> None:
    """Each option belongs to the metrics whose test uses it; refuse the others by name."""
    if metric == "quantile" and quantile is None:
        raise ValueError("quantile: required for a quantile metric (0.5 median, 0.9 p90)")
    if metric != "quantile" and quantile is not None:
        raise ValueError("quantile: only a quantile metric takes a level")
    if metric != "mean" and winsorize_percentile is not None:
        raise ValueError("winsorize_percentile: winsorisation caps a mean metric's values")
    if metric != "mean" and variance_reduction:
        raise ValueError("variance_reduction: CUPED is planned for mean (and ratio) metrics")
    if metric == "proportion" and (lognormal_sigma is not None or baseline_values is not None):
        name = "lognormal_sigma" if lognormal_sigma is not None else "baseline_values"
        raise ValueError(f"{name}: a rate's distribution follows from its baseline")
    if lognormal_sigma is not None and baseline_values is not None:
        raise ValueError("baseline_values: give a pilot sample or lognormal_sigma, not both")


def _plan_proportion(
    baseline: float | None, mde: float, mde_relative: bool, common: dict, method: str | None
) -> _Sized:
    if baseline is None:
        raise ValueError("baseline: required for a proportion metric (the control rate)")
    proportion_method: str = method or "pooled"
    size = sample_size_proportions(
        baseline, mde, relative=mde_relative, method=proportion_method, **common
    )
    absolute = baseline * mde if mde_relative else mde
    room = (1 - baseline if absolute > 0 else baseline) * (1 - 1e-9)
    test_args = {k: v for k, v in common.items() if k != "power"}

    def power_at(effect: float) -> float:
        return power_proportions(
            baseline, effect, size.control, relative=False, method=proportion_method, **test_args
        )

    test = {
        "pooled": "two-proportion z-test (pooled), as the report runs it",
        "unpooled": "two-proportion z-test (unpooled variance)",
        "cohen_h": "arcsine (Cohen's h) approximation",
    }[proportion_method]
    return _Sized(size, absolute, baseline, room, power_at, test)


def _mean_std(
    std: float | None,
    baseline: float | None,
    lognormal_sigma: float | None,
    baseline_values: mp.Values | None,
    winsorize_percentile: float | None,
    mde: float,
    mde_relative: bool,
    ratio: float,
) -> tuple[float, float | None, str]:
    """The per-user standard deviation the test will see (capped when winsorised) and the
    baseline mean, from ``std``, a pilot sample or a log-normal (``metric_planning``; the
    log-normal's is the effective sd of both arms, ``lognormal_arms``)."""
    percentile = None
    if winsorize_percentile is not None:
        percentile = mp.check_percentile(winsorize_percentile)
    label = f", capped at p{100 * percentile:g}" if percentile is not None else ""
    given = [n for n, v in (("std", std), ("lognormal_sigma", lognormal_sigma),
                            ("baseline_values", baseline_values)) if v is not None]  # fmt: skip
    if len(given) > 1:
        raise ValueError(f"{given[1]}: give one of std, lognormal_sigma, baseline_values")
    if std is not None:
        return check_positive("std", std), baseline, f"per-user sd {std:g}{label}"
    if baseline_values is not None:
        if percentile is not None:
            mean, sd = mp.capped_std(baseline_values, percentile)
        else:
            x = mp.check_values(baseline_values)
            mean, sd = float(x.mean()), float(x.std(ddof=1))
        sample = mp.check_values(baseline_values).size
        return sd, mean if baseline is None else baseline, f"pilot of {sample:,} users{label}"
    if lognormal_sigma is None:
        raise ValueError(
            "std: required for a mean metric (the per-user standard deviation; or give "
            "lognormal_sigma with the baseline mean, or baseline_values)"
        )
    if baseline is None or not check_real("baseline", baseline) > 0:
        raise ValueError("baseline: a log-normal plan needs the (capped) control mean, > 0")
    relative = check_real("mde", mde) if mde_relative else check_real("mde", mde) / baseline
    unit_mean, control_sd, treated_sd = mp.lognormal_arms(
        lognormal_sigma, percentile, relative, check_positive("ratio", ratio)
    )
    sd = baseline * mp.effective_sd(control_sd, treated_sd, ratio) / unit_mean
    return sd, baseline, f"log-normal (sigma {lognormal_sigma:g}){label}, both arms"


def _plan_mean(
    baseline: float | None,
    std_source: tuple[float, float | None, str],
    mde: float,
    mde_relative: bool,
    common: dict,
    method: str | None,
    variance_reduction: float,
    winsorized: bool,
) -> _Sized:
    std, baseline, source = std_source
    std *= math.sqrt(1 - variance_reduction)
    if mde_relative:
        if baseline is None or check_real("baseline", baseline) == 0:
            raise ValueError("baseline: a relative MDE needs the (non-zero) baseline mean")
        absolute = baseline * mde
    else:
        absolute = mde
    mean_method: str = method or "t"
    size = sample_size_means(std, absolute, method=mean_method, **common)
    test_args = {k: v for k, v in common.items() if k != "power"}

    def power_at(effect: float) -> float:
        return power_means(std, effect, size.control, method=mean_method, **test_args)

    test = "Welch t-test" if mean_method == "t" else "z-test"
    if winsorized:
        test += " on winsorised values"
    if variance_reduction:
        test += f" with CUPED removing {variance_reduction:.0%} of the variance"
    return _Sized(size, absolute, baseline, math.inf, power_at, f"{test} ({source})", std)


def _plan_quantile(
    quantile: float | None,
    baseline: float | None,
    lognormal_sigma: float | None,
    baseline_values: mp.Values | None,
    mde: float,
    mde_relative: bool,
    common: dict,
    method: str | None,
    woodruff_alpha: float,
) -> _Sized:
    """A quantile plan: the z-test on the difference of quantiles with Woodruff's standard
    errors at the planned size (``metric_planning``)."""
    quantile = check_unit_open("quantile", quantile)
    if method not in (None, "z"):
        raise ValueError("method: a quantile metric is tested with the z-test")
    if baseline_values is not None:
        distribution = mp.empirical(baseline_values)
        baseline = distribution.quantile(quantile)
        if baseline <= 0:
            raise ValueError("baseline_values: the pilot's quantile must be positive")
    elif lognormal_sigma is not None:
        sigma = mp.check_sigma(lognormal_sigma)
        if baseline is not None and not check_real("baseline", baseline) > 0:
            raise ValueError("baseline: the control's quantile must be positive")
        if baseline is None and not mde_relative:
            raise ValueError("baseline: an absolute MDE needs the control's quantile value")
        value = 1.0 if baseline is None else baseline
        distribution = mp.lognormal(sigma, value / math.exp(sigma * float(special.ndtri(quantile))))
    else:
        raise ValueError(
            "lognormal_sigma: a quantile plan needs the per-user distribution: lognormal_sigma "
            "(log-scale sd) or baseline_values (a pilot sample)"
        )
    if mde == 0:
        raise ValueError("mde: must not be zero")
    q_control = distribution.quantile(quantile)
    relative = mde if mde_relative else mde / q_control
    _check_direction(relative, common["alternative"])
    if not relative > -1:
        raise ValueError("mde: a quantile cannot fall by 100% or more")
    alpha, power, ratio, alternative = (
        common["alpha"], common["power"], common["ratio"], common["alternative"]
    )  # fmt: skip

    def power_of(effect_relative: float, n_control: float) -> float:
        se = mp.quantile_difference_std_error(
            distribution, quantile, effect_relative, n_control, ratio, woodruff_alpha
        )
        if not math.isfinite(se) or effect_relative == 0:
            return float(_normal_power(0.0, alpha, alternative))
        shift = (
            effect_relative * q_control / se if se > 0 else math.copysign(np.inf, effect_relative)
        )
        return float(_normal_power(shift, alpha, alternative))

    start = float(mp.min_units(quantile))
    exact = _solve_size(lambda n: power_of(relative, n), power, start, 1e-9)
    size = _sample_size(exact, ratio)
    test = (
        f"z-test on the difference of p{100 * quantile:g}s (Woodruff delta-method standard "
        f"errors at the planned size; {distribution.description}, the treatment scaling "
        "every value)"
    )
    return _Sized(
        size,
        relative * q_control,
        q_control,
        q_control * (1 - 1e-9) if relative < 0 else math.inf,
        lambda effect: power_of(effect / q_control, size.control),
        test,
    )


def plan_experiment(
    metric: str = "proportion",
    *,
    mde: float,
    mde_relative: bool = True,
    baseline: float | None = None,
    std: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str | None = None,
    daily_users: float | None = None,
    traffic_share: float = 1.0,
    curve_points: int = 41,
    sequential: bool = False,
    looks: int = 1,
    quantile: float | None = None,
    winsorize_percentile: float | None = None,
    variance_reduction: float = 0.0,
    lognormal_sigma: float | None = None,
    baseline_values: Sequence[float] | None = None,
) -> ExperimentPlan:
    """Plan a two-group test of a rate (``metric="proportion"``, ``baseline`` the rate), a
    mean (``metric="mean"``: ``baseline`` the mean, needed for a relative MDE) or a quantile
    (``metric="quantile"``, ``quantile`` its level).

    Sizes come from ``sample_size_proportions`` / ``sample_size_means`` (``method``: their
    default when ``None``), days from ``runtime_days(total, daily_users, traffic_share)``
    when ``daily_users`` is given. The curve gives the power at the planned control size for
    ``curve_points`` effects from 0 to 2.5 times the MDE (in the MDE's direction; for rates
    capped where the treated rate would leave (0, 1)).

    The size is that of the test the report runs: for rates the pooled two-proportion z-test
    (``method="pooled"`` by default). ``alternative`` "larger" or "smaller" plans the
    one-sided test (``z_{1-alpha}`` in place of ``z_{1-alpha/2}``), as a metric with
    ``test_sides="one-sided"`` is tested.

    Means: the per-user ``std``, or the distribution it follows from: ``lognormal_sigma``
    (log-scale sd, with ``baseline`` the mean) or ``baseline_values`` (a pilot sample).
    ``winsorize_percentile`` plans the test on values capped at that pooled percentile: the
    ``std`` given is then the capped metric's, and ``baseline`` and the MDE are on the capped
    mean; a log-normal or a pilot gives the capped sd itself (``metric_planning``).
    ``variance_reduction`` (CUPED's ``R^2``, the share of variance the pre-period covariates
    explain) plans the adjusted test, ``sd sqrt(1 - R^2)``; a ratio metric (CTR) is planned
    as a mean of its linearised per-user values (Deng et al. 2018), ``method="z"`` as tested.

    Quantiles: ``lognormal_sigma`` (``baseline``, optional for a relative MDE, the control's
    quantile value) or ``baseline_values``; the treatment multiplies every value by
    ``1 + mde_relative``, and the size solves the z-test's power with the Woodruff standard
    errors the test computes (``metric_planning``).

    ``sequential=True`` plans for the always-valid test of a sequential experiment
    (asymptotic confidence sequence tuned to the planned total): at its planned size that
    test is a z-test with critical value ``sequential.final_look_critical(alpha)`` on the
    unpooled standard error, so the plan is a fixed-horizon z plan at
    ``fixed_horizon_equivalent_alpha(alpha)`` (0.0024 for 0.05): about 1.9 times the users of
    a fixed test at power 0.8. Read at ``looks`` equally spaced looks (the last at the planned
    size; e.g. 7 daily reads of a week-long test) every look can reject, so the plan solves
    for the size at which the chance of some rejection is ``power``
    (``sequential.sequential_drift``, recursive numerical integration) and sizes a fixed z
    plan at ``fixed_horizon_equivalent_alpha(alpha, looks, power)``: 1.8 times the fixed
    users for 7 looks at power 0.8. A one-sided sequential test rejects on its side of the
    same two-sided boundary, so it is planned with the one-sided crossing probability and
    needs about as many users as the two-sided one (the boundary barely ever rejects on the
    wrong side). ``looks`` runs from 1 to ``sequential.MAX_LOOKS``; a fixed-horizon plan is
    read once, so more looks without ``sequential`` are refused. ``test`` says which test
    was planned.
    """
    metric = check_choice("metric", metric, METRICS)
    mde = check_real("mde", mde)
    curve_points = check_count("curve_points", curve_points, minimum=2)
    alpha, power = check_alpha_power(alpha, power)
    alternative = check_alternative(alternative)
    looks = check_looks(looks)
    variance_reduction = mp.check_variance_reduction(variance_reduction)
    _check_options(metric, quantile, winsorize_percentile, variance_reduction, lognormal_sigma,
                   baseline_values)  # fmt: skip
    if looks > 1 and not sequential:
        raise ValueError(
            "looks: a fixed-horizon test is read once, at its planned size; plan several "
            "looks with sequential testing"
        )
    nominal_alpha = alpha
    if sequential:
        if method not in (None, "unpooled", "z"):
            raise ValueError("method: a sequential plan uses the always-valid z-test")
        alpha = fixed_horizon_equivalent_alpha(alpha, looks, power, alternative)
        method = "unpooled" if metric == "proportion" else "z"
    common = {"alpha": alpha, "power": power, "ratio": ratio, "alternative": alternative}
    if metric == "proportion":
        sized = _plan_proportion(baseline, mde, mde_relative, common, method)
    elif metric == "mean":
        std_source = _mean_std(std, baseline, lognormal_sigma, baseline_values,
                               winsorize_percentile, mde, mde_relative, ratio)  # fmt: skip
        sized = _plan_mean(baseline, std_source, mde, mde_relative, common, method,
                           variance_reduction, winsorize_percentile is not None)  # fmt: skip
    else:
        sized = _plan_quantile(quantile, baseline, lognormal_sigma, baseline_values, mde,
                               mde_relative, common, method, nominal_alpha)  # fmt: skip
    size, absolute, baseline = sized.size, sized.absolute, sized.baseline
    days = None
    if daily_users is not None:
        days = runtime_days(size, check_positive("daily_users", daily_users), traffic_share)
    reach = min(2.5 * abs(absolute), sized.room)
    effects = math.copysign(1.0, absolute) * np.linspace(0.0, reach, curve_points)
    # No effect: rejections are false alarms (alpha, one-sided or two-sided alike).
    curve = tuple(
        PowerCurvePoint(
            float(e),
            float(e / baseline) if baseline else math.nan,
            sized.power_at(float(e)) if e != 0 else nominal_alpha,
        )
        for e in effects
    )
    test = sized.test
    if sequential:
        test = (
            f"always-valid sequential test (asymptotic confidence sequence tuned to "
            f"{size.total:,} users, read {looks} time{'s' if looks > 1 else ''}; sized as a "
            f"fixed test at alpha {alpha:.4f}); {test}"
        )
    if alternative != "two-sided":
        test = f"one-sided ({alternative}) {test}"
    return ExperimentPlan(
        metric=metric,
        sample_size=size,
        mde_absolute=float(absolute),
        mde_relative=mde if mde_relative else (absolute / baseline if baseline else math.nan),
        achieved_power=sized.power_at(absolute),
        expected_days=days,
        curve=curve,
        sequential=sequential,
        test=test,
        looks=looks,
        alternative=alternative,
        std=sized.std,
    )
