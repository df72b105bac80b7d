"""The planner plans the test the report runs (issue 13: "make the pieces agree").

Each test failed on the code before the fix: the planner sized rates with the unpooled
variance while the report tests with the pooled standard error, and it ignored sequential
testing altogether.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import power_proportions_2indep

from analytics.stats import analyze_many, plan_experiment, power_proportions
from analytics.stats.sequential import final_look_critical, fixed_horizon_equivalent_alpha

SIMULATIONS = 20_000


@pytest.mark.parametrize(
    ("baseline", "mde", "n", "ratio", "alternative"),
    [(0.02, 0.01, 2500, 4.0, "two-sided"), (0.3, -0.05, 900, 0.25, "smaller"),
     (0.05, 0.01, 4000, 1.0, "larger")],
)  # fmt: skip
def test_pooled_power_matches_statsmodels(baseline, mde, n, ratio, alternative):
    ours = power_proportions(
        baseline, mde, n, relative=False, ratio=ratio, alternative=alternative, method="pooled"
    )
    # statsmodels: sample 1 is the control (nobs1), prop2 the reference; diff = p1 - p2.
    reference = power_proportions_2indep(
        -mde, baseline + mde, n, ratio=ratio, alternative=_flip(alternative),
        return_results=False,
    )  # fmt: skip
    assert ours == pytest.approx(reference, abs=1e-6)


def _flip(alternative: str) -> str:
    return {"larger": "smaller", "smaller": "larger"}.get(alternative, alternative)


def _simulated_power(plan, baseline: float, lift: float, *, sequential: bool, seed: int):
    rng = np.random.default_rng(seed)
    size = plan.sample_size
    n_c = np.full(SIMULATIONS, size.control, dtype=float)
    n_t = np.full(SIMULATIONS, size.treatment, dtype=float)
    control = {"n": n_c, "sum_x": rng.binomial(size.control, baseline, SIMULATIONS) * 1.0}
    treated = rng.binomial(size.treatment, baseline * (1 + lift), SIMULATIONS) * 1.0
    batch = analyze_many(
        "proportion", control, {"n": n_t, "sum_x": treated}, sequential=sequential,
        planned_total=size.total, bayesian=False,
    )  # fmt: skip
    return float(np.mean(batch.columns["significant"]))


def test_planned_size_gives_the_planned_power_under_the_pooled_test_with_an_unequal_split():
    plan = plan_experiment(baseline=0.02, mde=0.5, ratio=4)
    assert plan.achieved_power == pytest.approx(0.8, abs=1e-3)
    power = _simulated_power(plan, 0.02, 0.5, sequential=False, seed=1)
    assert abs(power - 0.80) < 0.015, power  # unpooled sizing delivered about 0.73


def test_sequential_plan_sizes_for_the_always_valid_test():
    fixed = plan_experiment(baseline=0.05, mde=0.1, daily_users=2000)
    plan = plan_experiment(baseline=0.05, mde=0.1, daily_users=2000, sequential=True)
    assert plan.sequential and "always-valid" in plan.test
    assert plan.sample_size.total > 1.8 * fixed.sample_size.total
    assert plan.expected_days > fixed.expected_days  # the runtime follows the size
    # One look at the planned size: the final-look power is what was planned ...
    power = _simulated_power(plan, 0.05, 0.1, sequential=True, seed=2)
    assert abs(power - 0.80) < 0.04, power
    # ... whereas the fixed-horizon size under the sequential test has about half of it.
    assert _simulated_power(fixed, 0.05, 0.1, sequential=True, seed=3) < 0.6


def test_final_look_critical_value_is_where_the_always_valid_p_crosses_alpha():
    from analytics.stats import always_valid_test

    for alpha in (0.01, 0.05, 0.1):
        c = final_look_critical(alpha)
        at = always_valid_test(c, 1.0, 500, alpha=alpha, planned_total=500)
        assert at.p_value == pytest.approx(alpha, rel=1e-9)
        assert fixed_horizon_equivalent_alpha(alpha) < alpha


def test_sequential_plan_refuses_other_methods():
    with pytest.raises(ValueError, match="^method: "):
        plan_experiment(baseline=0.05, mde=0.1, method="cohen_h", sequential=True)


def test_sequential_mode_shows_only_always_valid_intervals():
    from analytics.stats import SufficientStats, analyze_metric

    control, treatment = SufficientStats(5000, 500), SufficientStats(5000, 575)
    fixed = analyze_metric("proportion", control, treatment)
    assert fixed.relative_ci[0] > 0 and fixed.significant  # the fixed interval excludes 0
    seq = analyze_metric("proportion", control, treatment, sequential=True)
    assert seq.sequential_p_value > 0.2 and not seq.significant
    assert seq.absolute_ci == seq.sequential_ci
    assert seq.relative_ci[0] < 0 < seq.relative_ci[1]
    assert seq.relative_ci[1] - seq.relative_ci[0] > fixed.relative_ci[1] - fixed.relative_ci[0]
