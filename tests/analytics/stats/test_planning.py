"""plan_experiment: the planner's one call agrees with the power functions it composes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.stats import (
    argument_name,
    plan_experiment,
    power_proportions,
    runtime_days,
    sample_size_means,
    sample_size_proportions,
)


def test_proportion_plan_is_the_reference():
    plan = plan_experiment(baseline=0.05, mde=0.05, daily_users=10_000, traffic_share=0.5)
    assert plan.sample_size == sample_size_proportions(0.05, 0.05, method="pooled")
    assert plan.expected_days == runtime_days(plan.sample_size, 10_000, 0.5) == 49
    assert plan.mde_absolute == pytest.approx(0.0025) and plan.mde_relative == 0.05
    planned = plan.curve[16]  # 0 .. 2.5 x MDE in 40 steps: the MDE is the 16th
    assert planned.mde_relative == pytest.approx(0.05)
    assert planned.power == pytest.approx(plan.achieved_power) and plan.achieved_power >= 0.8
    assert plan.curve[0].power == 0.05  # no effect: only false alarms
    assert [p.power for p in plan.curve] == sorted(p.power for p in plan.curve)
    assert plan.curve[10].power == pytest.approx(
        power_proportions(0.05, plan.curve[10].mde_absolute, plan.sample_size.control,
                          relative=False, method="pooled")
    )  # fmt: skip


def test_mean_plan_and_curve_stay_inside_the_rate_range():
    plan = plan_experiment("mean", std=45, mde=1.5, mde_relative=False, ratio=0.25)
    assert plan.sample_size == sample_size_means(45, 1.5, ratio=0.25)
    assert math.isnan(plan.mde_relative) and plan.expected_days is None
    high = plan_experiment(baseline=0.6, mde=0.5)  # 2.5 x MDE would pass a rate of 1
    assert max(p.mde_absolute for p in high.curve) < 0.4


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    metric=st.sampled_from(["proportion", "mean"]),
    mde=st.floats(allow_nan=True, allow_infinity=True),
    baseline=st.one_of(st.none(), st.floats(-2, 2)),
    std=st.one_of(st.none(), st.floats(allow_nan=True)),
    alpha=st.floats(-0.1, 1.1),
    power=st.floats(-0.1, 1.1),
    ratio=st.floats(-1, 20),
    daily_users=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_arbitrary_plans_give_a_plan_or_a_named_value_error(
    metric, mde, baseline, std, alpha, power, ratio, daily_users
):
    try:
        plan = plan_experiment(
            metric, mde=mde, baseline=baseline, std=std, alpha=alpha, power=power, ratio=ratio,
            daily_users=daily_users, curve_points=5,
        )  # fmt: skip
    except ValueError as error:
        assert argument_name(error), str(error)
        return
    assert plan.sample_size.total >= 2 and len(plan.curve) == 5
