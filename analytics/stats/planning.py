"""Experiment planning in one call: sizes, runtime, achieved power and the power curve.

Used by the planner page and ``POST /api/v1/stats/sample-size``; composes ``power``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics.stats._validation import (
    check_alpha_power,
    check_alternative,
    check_choice,
    check_count,
    check_positive,
    check_real,
)
from analytics.stats.power import (
    SampleSize,
    power_means,
    power_proportions,
    runtime_days,
    sample_size_means,
    sample_size_proportions,
)
from analytics.stats.sequential import check_looks, fixed_horizon_equivalent_alpha

METRICS = ("proportion", "mean")


@dataclass(frozen=True)
class PowerCurvePoint:
    """Power at ``mde_absolute`` (``mde_relative`` of the baseline; NaN without one)."""

    mde_absolute: float
    mde_relative: float
    power: float


@dataclass(frozen=True)
class ExperimentPlan:
    """Users per group, expected days and the power curve at the planned size; ``looks``:
    the planned reads of a sequential plan (1 for a fixed-horizon one)."""

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

    def __post_init__(self) -> None:
        if not 0 < self.achieved_power <= 1:
            raise ValueError("achieved_power: must lie in (0, 1]")
        if self.expected_days is not None and self.expected_days < 1:
            raise ValueError("expected_days: must be at least 1")


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
) -> ExperimentPlan:
    """Plan a two-group test of a rate (``metric="proportion"``, ``baseline`` the rate) or a
    mean (``metric="mean"``: ``std`` required, ``baseline`` the mean, needed for a relative
    MDE).

    Sizes come from ``sample_size_proportions`` / ``sample_size_means`` (``method``: their
    default when ``None``), days from ``runtime_days(total, daily_users, traffic_share)``
    when ``daily_users`` is given. The curve gives the power at the planned control size for
    ``curve_points`` effects from 0 to 2.5 times the MDE (in the MDE's direction; for rates
    capped where the treated rate would leave (0, 1)).

    The size is that of the test the report runs: for rates the pooled two-proportion z-test
    (``method="pooled"`` by default). ``sequential=True`` plans for the always-valid test of a
    sequential experiment (two-sided, asymptotic confidence sequence tuned to the planned
    total): at its planned size that test is a z-test with critical value
    ``sequential.final_look_critical(alpha)`` on the unpooled standard error, so the plan is a
    fixed-horizon z plan at ``fixed_horizon_equivalent_alpha(alpha)`` (0.0024 for 0.05): about
    1.9 times the users of a fixed test at power 0.8. Read at ``looks`` equally spaced looks
    (the last at the planned size; e.g. 7 daily reads of a week-long test) every look can
    reject, so the plan solves for the size at which the chance of some rejection is
    ``power`` (``sequential.sequential_drift``, recursive numerical integration) and sizes a
    fixed z plan at ``fixed_horizon_equivalent_alpha(alpha, looks, power)``: 1.8 times the
    fixed users for 7 looks at power 0.8. ``looks`` runs from 1 to ``sequential.MAX_LOOKS``;
    a fixed-horizon plan is read once, so more looks without ``sequential`` are refused.
    ``test`` says which test was planned.
    """
    metric = check_choice("metric", metric, METRICS)
    mde = check_real("mde", mde)
    curve_points = check_count("curve_points", curve_points, minimum=2)
    alpha, power = check_alpha_power(alpha, power)
    alternative = check_alternative(alternative)
    looks = check_looks(looks)
    if looks > 1 and not sequential:
        raise ValueError(
            "looks: a fixed-horizon test is read once, at its planned size; plan several "
            "looks with sequential testing"
        )
    nominal_alpha = alpha
    if sequential:
        if alternative != "two-sided":
            raise ValueError("alternative: sequential tests are planned two-sided")
        if method not in (None, "unpooled", "z"):
            raise ValueError("method: a sequential plan uses the always-valid z-test")
        alpha = fixed_horizon_equivalent_alpha(alpha, looks, power)
        method = "unpooled" if metric == "proportion" else "z"
    if metric == "proportion":
        if baseline is None:
            raise ValueError("baseline: required for a proportion metric (the control rate)")
        proportion_method: str = method or "pooled"
        size = sample_size_proportions(
            baseline, mde, relative=mde_relative, alpha=alpha, power=power, ratio=ratio,
            alternative=alternative, method=proportion_method,
        )  # fmt: skip
        absolute = baseline * mde if mde_relative else mde
        room = (1 - baseline if absolute > 0 else baseline) * (1 - 1e-9)

        def power_at(effect: float) -> float:
            return power_proportions(
                baseline, effect, size.control, relative=False, alpha=alpha, ratio=ratio,
                alternative=alternative, method=proportion_method,
            )  # fmt: skip

    else:
        if std is None:
            raise ValueError("std: required for a mean metric (the per-user standard deviation)")
        if mde_relative:
            if baseline is None or check_real("baseline", baseline) == 0:
                raise ValueError("baseline: a relative MDE needs the (non-zero) baseline mean")
            absolute = baseline * mde
        else:
            absolute = mde
        mean_method: str = method or "t"
        size = sample_size_means(
            std, absolute, alpha=alpha, power=power, ratio=ratio, alternative=alternative,
            method=mean_method,
        )  # fmt: skip
        room = math.inf

        def power_at(effect: float) -> float:
            return power_means(
                std, effect, size.control, alpha=alpha, ratio=ratio, alternative=alternative,
                method=mean_method,
            )  # fmt: skip

    days = None
    if daily_users is not None:
        days = runtime_days(size, check_positive("daily_users", daily_users), traffic_share)
    reach = min(2.5 * abs(absolute), room)
    effects = math.copysign(1.0, absolute) * np.linspace(0.0, reach, curve_points)
    curve = tuple(
        PowerCurvePoint(
            float(e),
            float(e / baseline) if baseline else math.nan,
            # no effect: rejections are false alarms
            power_at(float(e)) if e != 0 else nominal_alpha,
        )
        for e in effects
    )
    if sequential:
        test = (
            f"always-valid sequential test (asymptotic confidence sequence tuned to "
            f"{size.total:,} users, read {looks} time{'s' if looks > 1 else ''}; sized as a "
            f"fixed test at alpha {alpha:.4f})"
        )
    elif metric == "proportion":
        test = {
            "pooled": "two-proportion z-test (pooled), as the report runs it",
            "unpooled": "two-proportion z-test (unpooled variance)",
            "cohen_h": "arcsine (Cohen's h) approximation",
        }[proportion_method]
    else:
        test = "Welch t-test" if mean_method == "t" else "z-test"
    return ExperimentPlan(
        metric=metric,
        sample_size=size,
        mde_absolute=float(absolute),
        mde_relative=mde if mde_relative else (absolute / baseline if baseline else math.nan),
        achieved_power=power_at(absolute),
        expected_days=days,
        curve=curve,
        sequential=sequential,
        test=test,
        looks=looks,
    )
