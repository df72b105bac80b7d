"""CUPED against an OLS oracle; always-valid inference against its closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from analytics.stats import (
    SufficientStats,
    always_valid_history,
    always_valid_test,
    analyze_many,
    analyze_metric,
    cuped_adjust,
    welch_ttest,
)


def _pre_post(rng, users: int, lift: float = 0.0):
    pre = rng.gamma(2.0, 5.0, users)
    post = 0.7 * pre + rng.normal(0, 3, users) + lift
    return post, pre


def test_cuped_theta_and_reduction_match_ols():
    rng = np.random.default_rng(20)
    post, pre = _pre_post(rng, 2000)
    result = cuped_adjust(post, pre)
    fit = sm.OLS(post, sm.add_constant(pre)).fit()
    assert result.theta == pytest.approx(fit.params[1], rel=1e-9)
    assert result.variance_reduction == pytest.approx(fit.rsquared, rel=1e-9)
    assert result.correlation**2 == pytest.approx(fit.rsquared, rel=1e-9)
    assert result.adjusted.mean() == pytest.approx(post.mean(), rel=1e-12)


def test_cuped_from_sums_equals_welch_on_adjusted_values():
    rng = np.random.default_rng(21)
    (yc, cc), (yt, ct) = _pre_post(rng, 800), _pre_post(rng, 900, lift=0.4)
    adjusted = cuped_adjust(np.concatenate([yc, yt]), np.concatenate([cc, ct])).adjusted
    ac, at = adjusted[:800], adjusted[800:]
    oracle = welch_ttest(ac.mean(), ac.var(ddof=1), 800, at.mean(), at.var(ddof=1), 900)
    ours = analyze_metric(
        "mean", SufficientStats.from_arrays(yc, covariate=cc),
        SufficientStats.from_arrays(yt, covariate=ct),
    )  # fmt: skip
    assert ours.absolute_effect == pytest.approx(oracle.absolute_effect, rel=1e-9)
    assert ours.p_value == pytest.approx(oracle.p_value, rel=1e-6)
    assert ours.std_error == pytest.approx(oracle.std_error, rel=1e-9)
    plain = analyze_metric("mean", SufficientStats.from_arrays(yc), SufficientStats.from_arrays(yt))
    assert ours.variance_reduction == pytest.approx(1 - ours.std_error**2 / plain.std_error**2)
    assert ours.variance_reduction > 0.5
    assert "CUPED" in ours.method and plain.cuped_theta is None


def test_cuped_bad_arguments():
    with pytest.raises(ValueError, match="^covariate: "):
        cuped_adjust([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="^metric: "):
        cuped_adjust([1.0], [1.0])


def test_msprt_closed_form():
    effect, variance, tau = 0.02, 1e-4, 0.05
    result = always_valid_test(effect, variance, 1000, method="msprt", mixing_sd=tau)
    tau2 = tau**2
    likelihood = math.sqrt(variance / (variance + tau2)) * math.exp(
        tau2 * effect**2 / (2 * variance * (variance + tau2))
    )
    assert result.p_value == pytest.approx(min(1, 1 / likelihood), rel=1e-12)
    half = math.sqrt(
        variance * (variance + tau2) / tau2
        * (2 * math.log(1 / 0.05) + math.log((variance + tau2) / variance))
    )  # fmt: skip
    assert result.ci == pytest.approx((effect - half, effect + half), rel=1e-12)


def test_asymptotic_is_msprt_with_the_scaled_mixing_variance():
    effect, variance, n, planned = 0.01, 2e-5, 8000, 20_000
    rho2 = (-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / planned
    asymptotic = always_valid_test(effect, variance, n, planned_total=planned)
    msprt = always_valid_test(
        effect, variance, n, method="msprt", mixing_sd=math.sqrt(variance * n * rho2)
    )
    assert asymptotic.p_value == pytest.approx(msprt.p_value, rel=1e-12)
    assert asymptotic.ci == pytest.approx(msprt.ci, rel=1e-12)


def test_p_value_and_sequence_agree_and_are_conservative():
    rng = np.random.default_rng(22)
    for _ in range(200):
        effect, variance = rng.normal(0, 0.02), rng.uniform(1e-6, 1e-3)
        result = always_valid_test(effect, variance, int(rng.integers(100, 100_000)))
        excludes_zero = result.ci[0] > 0 or result.ci[1] < 0
        assert excludes_zero == (result.p_value < 0.05)
        fixed_half = 1.959963984540054 * math.sqrt(variance)
        assert result.ci[1] - result.ci[0] > 2 * fixed_half  # wider than fixed-horizon


def test_history_takes_running_minimum_and_intersection():
    history = always_valid_history(
        [0.03, 0.01, 0.02], [1e-4, 5e-5, 2e-5], [1000, 2000, 4000], planned_total=4000
    )
    assert np.all(np.diff(history.p_values) <= 0)
    assert np.all(np.diff(history.lower) >= 0) and np.all(np.diff(history.upper) <= 0)
    single = always_valid_test(0.03, 1e-4, 1000, planned_total=4000)
    assert history.p_values[0] == pytest.approx(single.p_value)


def test_sequential_bad_arguments():
    with pytest.raises(ValueError, match="^mixing_sd: "):
        always_valid_test(0.1, 0.01, 100, method="msprt")
    with pytest.raises(ValueError, match="^method: "):
        always_valid_test(0.1, 0.01, 100, method="obf")
    with pytest.raises(ValueError, match="^variance: "):
        always_valid_test(0.1, -0.01, 100)
    with pytest.raises(ValueError, match="^variances: "):
        always_valid_history([0.1], [0.01, 0.02], [100])


def test_one_sided_sequential_keeps_alpha_over_daily_looks_and_has_power():
    """Issue 13: one-sided sequential tests (refused before). A/A with 14 daily looks: some
    look rejects in at most alpha of runs; a real rise is found."""
    rng = np.random.default_rng(77)
    runs, days, daily = 1000, 14, 500
    n = np.arange(1, days + 1) * daily
    for lift, check in ((1.0, lambda r: r <= 0.05), (1.15, lambda r: r >= 0.5)):
        xc = np.cumsum(rng.binomial(daily, 0.1, (runs, days)), axis=1)
        xt = np.cumsum(rng.binomial(daily, 0.1 * lift, (runs, days)), axis=1)
        looks = np.broadcast_to(n, xc.shape).ravel().astype(float)
        batch = analyze_many(
            "proportion", {"n": looks, "sum_x": xc.ravel() * 1.0},
            {"n": looks, "sum_x": xt.ravel() * 1.0}, sequential=True, alternative="larger",
            planned_total=2 * daily * days,
        )  # fmt: skip
        rejected = batch.columns["significant"].reshape(runs, days).any(axis=1).mean()
        assert check(rejected), (lift, rejected)
        assert np.all(np.isinf(batch.columns["absolute_upper"]))
