"""Fixed-horizon tests against statsmodels and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analytics.stats import (
    SufficientStats,
    noninferiority_test,
    ratio_metric_test,
    two_proportion_ztest,
    welch_ttest,
)

RTOL = 1e-6
SM_ALTERNATIVE = {"two-sided": "two-sided", "larger": "larger", "smaller": "smaller"}
SCIPY_ALTERNATIVE = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}


def test_reference_numbers_from_the_issue():
    result = two_proportion_ztest(1000, 10_000, 1100, 10_000)
    assert result.statistic == pytest.approx(2.3066, abs=5e-5)
    assert result.p_value == pytest.approx(0.02108, abs=5e-6)
    assert result.absolute_effect == pytest.approx(0.01)
    assert result.relative_effect == pytest.approx(0.10)
    assert result.significant


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    n_c=st.integers(1, 200_000),
    n_t=st.integers(1, 200_000),
    rate_c=st.floats(0, 1),
    rate_t=st.floats(0, 1),
    alternative=st.sampled_from(["two-sided", "larger", "smaller"]),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_ztest_matches_statsmodels(n_c, n_t, rate_c, rate_t, alternative, alpha):
    x_c, x_t = round(n_c * rate_c), round(n_t * rate_t)
    pooled = (x_c + x_t) / (n_c + n_t)
    ours = two_proportion_ztest(x_c, n_c, x_t, n_t, alpha=alpha, alternative=alternative)
    if 0 < pooled < 1:
        z, p = proportions_ztest([x_t, x_c], [n_t, n_c], alternative=SM_ALTERNATIVE[alternative])
        assert ours.statistic == pytest.approx(z, rel=RTOL)
        assert ours.p_value == pytest.approx(p, rel=RTOL, abs=1e-300)
    else:  # all or no successes: identical groups, statistic 0
        assert ours.statistic == 0
        assert ours.p_value == (1.0 if alternative == "two-sided" else 0.5)
    if alternative == "two-sided":
        low, high = confint_proportions_2indep(
            x_t, n_t, x_c, n_c, method="wald", compare="diff", alpha=alpha
        )
        assert ours.absolute_ci[0] == pytest.approx(low, rel=RTOL, abs=1e-12)
        assert ours.absolute_ci[1] == pytest.approx(high, rel=RTOL, abs=1e-12)


def test_ztest_one_sided_interval_is_a_half_line():
    result = two_proportion_ztest(1000, 10_000, 1100, 10_000, alternative="larger")
    assert result.absolute_ci[1] == math.inf
    assert result.absolute_ci[0] == pytest.approx(0.01 - 1.6448536269514722 * result.std_error)


def test_relative_interval_by_the_delta_method():
    result = two_proportion_ztest(1000, 10_000, 1100, 10_000)
    pc, pt = 0.1, 0.11
    se = math.sqrt(pt * (1 - pt) / 10_000 / pc**2 + pt**2 * pc * (1 - pc) / 10_000 / pc**4)
    assert result.relative_ci[0] == pytest.approx(0.1 - 1.959963984540054 * se, rel=1e-9)
    assert result.relative_ci[1] == pytest.approx(0.1 + 1.959963984540054 * se, rel=1e-9)


def test_welch_matches_scipy_over_generated_data():
    rng = np.random.default_rng(5)
    for i in range(60):
        a = rng.gamma(2.0, rng.uniform(0.5, 5), rng.integers(2, 400))
        b = rng.gamma(2.0, rng.uniform(0.5, 5), rng.integers(2, 400)) + rng.normal(0, 0.5)
        alternative = ["two-sided", "larger", "smaller"][i % 3]
        ours = welch_ttest(
            a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size,
            alternative=alternative, alpha=0.1,
        )  # fmt: skip
        oracle = stats.ttest_ind(b, a, equal_var=False, alternative=SCIPY_ALTERNATIVE[alternative])
        assert ours.statistic == pytest.approx(oracle.statistic, rel=RTOL)
        assert ours.p_value == pytest.approx(oracle.pvalue, rel=RTOL)
        assert ours.df == pytest.approx(oracle.df, rel=RTOL)
        ci = oracle.confidence_interval(0.9)
        for ours_end, oracle_end in zip(ours.absolute_ci, ci, strict=True):
            assert ours_end == pytest.approx(oracle_end, rel=RTOL)
        from_stats = stats.ttest_ind_from_stats(
            b.mean(), b.std(ddof=1), b.size, a.mean(), a.std(ddof=1), a.size, equal_var=False,
            alternative=SCIPY_ALTERNATIVE[alternative],
        )  # fmt: skip
        assert ours.p_value == pytest.approx(from_stats.pvalue, rel=RTOL)


def _clustered_users(rng, users: int, rate: float):
    impressions = rng.geometric(0.1, users)
    user_rate = np.clip(rng.beta(2, 2 * (1 - rate) / rate, users), 0, 1)
    clicks = rng.binomial(impressions, user_rate)
    return clicks.astype(float), impressions.astype(float)


def test_ratio_metric_variance_matches_cluster_robust_ols():
    # Independent oracle: the intercept of an impression-level regression of the click on 1,
    # with standard errors clustered by user, is the group's CTR with the delta-method
    # variance (without small-sample correction: ours uses n - 1, hence the factor).
    rng = np.random.default_rng(8)
    for _ in range(5):
        group = {}
        for name in ("control", "treatment"):
            clicks, impressions = _clustered_users(rng, int(rng.integers(30, 300)), 0.1)
            rows = np.repeat(np.arange(clicks.size), impressions.astype(int))
            y = np.zeros(rows.size)
            for user in range(clicks.size):  # the first `clicks` impressions are clicked
                y[np.flatnonzero(rows == user)[: int(clicks[user])]] = 1
            fit = sm.OLS(y, np.ones(y.size)).fit(
                cov_type="cluster", cov_kwds={"groups": rows, "use_correction": False}
            )
            n = clicks.size
            group[name] = (clicks, impressions, fit.params[0], fit.bse[0] ** 2 * n / (n - 1))
        result = ratio_metric_test(group["control"][:2], group["treatment"][:2])
        assert result.control_mean == pytest.approx(group["control"][2], rel=RTOL)
        assert result.treatment_mean == pytest.approx(group["treatment"][2], rel=RTOL)
        variance = group["control"][3] + group["treatment"][3]
        assert result.std_error**2 == pytest.approx(variance, rel=RTOL)
        z = (group["treatment"][2] - group["control"][2]) / math.sqrt(variance)
        assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=RTOL)


def test_ratio_metric_from_sums_equals_from_arrays():
    rng = np.random.default_rng(9)
    c, t = _clustered_users(rng, 500, 0.1), _clustered_users(rng, 500, 0.11)
    from_arrays = ratio_metric_test(c, t)
    from_sums = ratio_metric_test(SufficientStats.from_arrays(*c), SufficientStats.from_arrays(*t))
    assert from_sums == from_arrays


def test_noninferiority_matches_statsmodels_and_scipy():
    for x_c, x_t, margin in [(1000, 1010, 0.01), (1000, 1150, 0.01), (500, 480, 0.005)]:
        ours = noninferiority_test(
            "proportion", SufficientStats(10_000, x_c), SufficientStats(10_000, x_t),
            margin=margin, margin_relative=False,
        )  # fmt: skip
        oracle = sm_proportion.test_proportions_2indep(
            x_t, 10_000, x_c, 10_000, value=margin, compare="diff", alternative="smaller",
            method="wald",
        )  # fmt: skip
        assert ours.p_value == pytest.approx(oracle.pvalue, rel=RTOL)
        assert ours.noninferior == (oracle.pvalue < 0.05)
    rng = np.random.default_rng(10)
    a, b = rng.normal(5, 2, 300), rng.normal(5.1, 2.5, 280)
    ours = noninferiority_test(
        "mean", SufficientStats.from_arrays(a), SufficientStats.from_arrays(b),
        margin=0.5, margin_relative=False,
    )  # fmt: skip
    oracle = stats.ttest_ind(b - 0.5, a, equal_var=False, alternative="less")
    assert ours.p_value == pytest.approx(oracle.pvalue, rel=RTOL)
    # A decrease is bad (e.g. watch time): H0 mu_t <= mu_c - margin.
    ours = noninferiority_test(
        "mean", SufficientStats.from_arrays(a), SufficientStats.from_arrays(b),
        margin=0.5, margin_relative=False, bad_direction="decrease",
    )  # fmt: skip
    oracle = stats.ttest_ind(b + 0.5, a, equal_var=False, alternative="greater")
    assert ours.p_value == pytest.approx(oracle.pvalue, rel=RTOL)


def test_relative_noninferiority_margin():
    # Abandonment 20 % in control, 20.4 % in treatment, margin 5 % relative (21 %).
    control, treatment = SufficientStats(100_000, 20_000), SufficientStats(100_000, 20_400)
    result = noninferiority_test("proportion", control, treatment, margin=0.05)
    se = math.sqrt(0.204 * 0.796 / 100_000 + 1.05**2 * 0.2 * 0.8 / 100_000)
    assert result.statistic == pytest.approx((0.204 - 1.05 * 0.2) / se, rel=1e-9)
    assert result.threshold == pytest.approx(0.01)
    assert result.noninferior
    bad = noninferiority_test("proportion", control, SufficientStats(100_000, 21_500), margin=0.05)
    assert not bad.noninferior


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: two_proportion_ztest(-1, 10, 1, 10), "x_control"),
        (lambda: two_proportion_ztest(11, 10, 1, 10), "x_control"),
        (lambda: two_proportion_ztest(1, 10, 1, 0), "n_treatment"),
        (lambda: two_proportion_ztest(1, 10, 1.5, 10), "x_treatment"),
        (lambda: two_proportion_ztest(1, 10, 1, 10, alpha=0), "alpha"),
        (lambda: welch_ttest(1, -1, 10, 1, 1, 10), "var_c"),
        (lambda: welch_ttest(1, 1, 1, 1, 1, 10), "n_c"),
        (lambda: welch_ttest(1, 1, 10, math.nan, 1, 10), "mean_t"),
        (lambda: ratio_metric_test(SufficientStats(10, 3), SufficientStats(10, 3)), "control"),
        (lambda: ratio_metric_test("x", SufficientStats(10, 3)), "control"),
        (
            lambda: noninferiority_test(
                "proportion", SufficientStats(10, 3), SufficientStats(10, 3), margin=0
            ),
            "margin",
        ),
        (lambda: SufficientStats(-1, 3), "n"),
        (lambda: SufficientStats(10, 5, sum_x2=1), "sum_x2"),
    ],
)
def test_bad_arguments_name_themselves(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}[.:]"):
        call()
