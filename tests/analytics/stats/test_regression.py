"""Regression adjustment with several covariates and for ratio metrics: the effect and its
slopes equal statsmodels' OLS to 1e-6, the variance equals the Welch variance of the
adjusted per-user values, and bad sums are refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.stats import CovariateSums, SufficientStats, analyze_metric, argument_name
from analytics.stats.regression import StackedSums, adjusted_moments


def _mean_groups(seed: int, n_c: int = 400, n_t: int = 350):
    """Watch time with two pre-period covariates, treatment +3."""
    rng = np.random.default_rng(seed)
    out = []
    for n, shift in ((n_c, 0.0), (n_t, 3.0)):
        c1 = rng.gamma(2.0, 10.0, n)
        c2 = rng.normal(5.0, 2.0, n)
        x = 4.0 + 0.8 * c1 + 1.5 * c2 + rng.normal(0, 6.0 + 2 * shift / 3, n) + shift
        out.append((x, np.vstack([c1, c2])))
    return out


def _ratio_groups(seed: int, users: int = 500):
    """Clicks over impressions, with pre-period clicks and impressions of the same users."""
    rng = np.random.default_rng(seed)
    out = []
    for lift in (1.0, 1.1):
        activity = rng.gamma(2.0, 1.0, users)
        propensity = rng.beta(1, 9, users)
        imp = rng.poisson(10 * activity) + 1.0
        pre_imp = rng.poisson(10 * activity).astype(float)
        clk = rng.binomial(imp.astype(int), np.minimum(propensity * lift, 1)).astype(float)
        pre_clk = rng.binomial(pre_imp.astype(int), propensity).astype(float)
        out.append((clk, imp, np.vstack([pre_clk, pre_imp])))
    return out


def test_mean_with_two_covariates_equals_statsmodels_ols():
    (xc, cc), (xt, ct) = _mean_groups(1)
    control = CovariateSums.from_arrays(xc, cc)
    treatment = CovariateSums.from_arrays(xt, ct)
    mc, mt, theta, reduction = adjusted_moments(
        StackedSums.of([control]), StackedSums.of([treatment])
    )
    x = np.concatenate([xc, xt])
    design = np.column_stack(
        [np.ones(x.size), np.r_[np.zeros(xc.size), np.ones(xt.size)], np.hstack([cc, ct]).T]
    )
    ols = sm.OLS(x, design).fit()
    assert mt.mean[0] - mc.mean[0] == pytest.approx(ols.params[1], abs=1e-6)
    assert theta[0] == pytest.approx(ols.params[2:], abs=1e-6)
    # Each group's variance: the sample variance of its adjusted values x - theta'c, over n,
    # with one degree of freedom per slope (N - 2 -> N - 2 - k).
    dof = (x.size - 2) / (x.size - 2 - 2)
    for m, x_g, c_g in ((mc, xc, cc), (mt, xt, ct)):
        adjusted = x_g - theta[0] @ c_g
        assert m.var_mean[0] == pytest.approx(dof * adjusted.var(ddof=1) / x_g.size, rel=1e-9)
    assert 0.5 < reduction[0] < 1


def test_ratio_with_pre_period_numerator_and_denominator_equals_ols_of_linearised_values():
    (xc, yc, cc), (xt, yt, ct) = _ratio_groups(2)
    control = CovariateSums.from_arrays(xc, cc, y=yc)
    treatment = CovariateSums.from_arrays(xt, ct, y=yt)
    mc, mt, theta, reduction = adjusted_moments(
        StackedSums.of([control]), StackedSums.of([treatment])
    )
    # Deng et al.'s linearisation per user, z = (x - R y) / ybar, around each group's ratio.
    linear = []
    for x, y in ((xc, yc), (xt, yt)):
        ratio = x.sum() / y.sum()
        linear.append(ratio + (x - ratio * y) / y.mean())
    w = np.concatenate(linear)
    design = np.column_stack(
        [np.ones(w.size), np.r_[np.zeros(xc.size), np.ones(xt.size)], np.hstack([cc, ct]).T]
    )
    ols = sm.OLS(w, design).fit()
    assert mt.mean[0] - mc.mean[0] == pytest.approx(ols.params[1], abs=1e-6)
    assert theta[0] == pytest.approx(ols.params[2:], abs=1e-6)
    dof = (w.size - 2) / (w.size - 4)
    for m, z, c_g in ((mc, linear[0], cc), (mt, linear[1], ct)):
        residual = (z - theta[0] @ c_g).var(ddof=1)
        assert m.var_mean[0] == pytest.approx(dof * residual / z.size, rel=1e-9)
    assert reduction[0] > 0.2  # the pre-period explains much of a user's clicks


def test_analysis_of_a_ratio_with_covariates_narrows_the_interval_and_says_so():
    (xc, yc, cc), (xt, yt, ct) = _ratio_groups(3)
    plain_c = SufficientStats.from_arrays(xc, yc)
    plain_t = SufficientStats.from_arrays(xt, yt)
    plain = analyze_metric("ratio", plain_c, plain_t)
    adjusted = analyze_metric(
        "ratio", plain_c, plain_t,
        control_covariates=CovariateSums.from_arrays(xc, cc, y=yc),
        treatment_covariates=CovariateSums.from_arrays(xt, ct, y=yt),
    )  # fmt: skip
    assert adjusted.std_error < plain.std_error
    assert adjusted.cuped_covariates == 2
    assert adjusted.method == "delta-method z-test with CUPED (2 covariates)"
    assert adjusted.variance_reduction == pytest.approx(
        1 - adjusted.std_error**2 / plain.std_error**2, rel=1e-9
    )
    tiny = [CovariateSums.from_arrays(x[:2], c[:, :2], y=y[:2]) for x, y, c in
            ((xc, yc, cc), (xt, yt, ct))]  # fmt: skip
    few = analyze_metric(
        "ratio", SufficientStats.from_arrays(xc[:2], yc[:2]),
        SufficientStats.from_arrays(xt[:2], yt[:2]), control_covariates=tiny[0],
        treatment_covariates=tiny[1],
    )  # fmt: skip
    # 4 users, 2 slopes: no degree of freedom left for the residual variance, so unadjusted.
    assert few.cuped_covariates is None and few.cuped_theta is None
    off = analyze_metric(
        "ratio", plain_c, plain_t, cuped=False,
        control_covariates=CovariateSums.from_arrays(xc, cc, y=yc),
        treatment_covariates=CovariateSums.from_arrays(xt, ct, y=yt),
    )  # fmt: skip
    assert off.std_error == plain.std_error and off.cuped_covariates is None


def test_constant_or_collinear_covariates_get_no_weight():
    (xc, cc), (xt, ct) = _mean_groups(4)
    constant = [np.vstack([c[0], np.full(c.shape[1], 3.0)]) for c in (cc, ct)]
    control = CovariateSums.from_arrays(xc, constant[0])
    treatment = CovariateSums.from_arrays(xt, constant[1])
    _, _, theta, _ = adjusted_moments(StackedSums.of([control]), StackedSums.of([treatment]))
    single = [CovariateSums.from_arrays(x, c[:1]) for x, c in ((xc, cc), (xt, ct))]
    _, _, theta_one, _ = adjusted_moments(*(StackedSums.of([g]) for g in single))
    assert theta[0][0] == pytest.approx(theta_one[0][0], rel=1e-6)
    assert abs(theta[0][1]) < 1e-6


def test_many_pairs_at_once_equal_one_at_a_time():
    groups = [_mean_groups(seed) for seed in range(5)]
    sums = [[CovariateSums.from_arrays(x, c) for x, c in pair] for pair in groups]
    stacked = adjusted_moments(
        StackedSums.of([p[0] for p in sums]), StackedSums.of([p[1] for p in sums])
    )
    for i, (control, treatment) in enumerate(sums):
        one = adjusted_moments(StackedSums.of([control]), StackedSums.of([treatment]))
        assert stacked[1].mean[i] == pytest.approx(one[1].mean[0], rel=1e-12)
        assert stacked[0].var_mean[i] == pytest.approx(one[0].var_mean[0], rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 10, "sums": [1.0, np.nan], "cross": np.eye(2)}, "sums"),
        ({"n": 10, "sums": [1.0, 1.0], "cross": [[1.0, np.inf], [np.inf, 1.0]]}, "cross"),
        ({"n": 1, "sums": [1.0, 1.0], "cross": np.eye(2)}, "n"),
        ({"n": -3, "sums": [1.0, 1.0], "cross": np.eye(2)}, "n"),
        ({"n": 10, "sums": [1.0], "cross": [[1.0]]}, "sums"),
        ({"n": 10, "sums": [1.0, 2.0], "cross": [[1.0, 0.5], [0.2, 1.0]]}, "cross"),
        ({"n": 10, "sums": [10.0, 1.0], "cross": [[2.0, 0.0], [0.0, 1.0]]}, "cross"),
        ({"n": 10, "sums": [1.0, 1.0], "cross": [[1.0, 3.0], [3.0, 1.0]]}, "cross"),
        ({"n": 10, "sums": [1.0, 0.0, 1.0], "cross": np.eye(3), "ratio": True}, "sums"),
        ({"n": 10, "sums": [1.0, 1.0], "cross": np.eye(3)}, "cross"),
        ({"n": 10, "sums": [1.0, 1.0], "cross": np.eye(2), "names": ("a", "b")}, "names"),
    ],
)
def test_impossible_sums_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        CovariateSums(**kwargs)


def test_covariate_sums_must_describe_the_pairs_users():
    (xc, cc), (xt, ct) = _mean_groups(5)
    plain_c, plain_t = SufficientStats.from_arrays(xc), SufficientStats.from_arrays(xt)
    control, treatment = CovariateSums.from_arrays(xc, cc), CovariateSums.from_arrays(xt, ct)
    with pytest.raises(ValueError, match=r"^treatment_covariates.n:"):
        analyze_metric(
            "mean", plain_c, plain_t, control_covariates=control,
            treatment_covariates=CovariateSums.from_arrays(xt[:-1], ct[:, :-1]),
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"^control_covariates.sums:"):
        analyze_metric(
            "mean", plain_c, plain_t, treatment_covariates=treatment,
            control_covariates=CovariateSums.from_arrays(xc + 1, cc),
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"^control_covariates:"):
        analyze_metric("ratio", SufficientStats.from_arrays(xc, xc + 1),
                       SufficientStats.from_arrays(xt, xt + 1),
                       control_covariates=control, treatment_covariates=treatment)  # fmt: skip
    with pytest.raises(ValueError, match=r"^control_covariates:"):
        analyze_metric("mean", plain_c, plain_t, treatment_covariates=treatment)
    with pytest.raises(ValueError, match=r"^covariates:"):
        CovariateSums.from_arrays(xc, cc[:, :-1])
    with pytest.raises(ValueError, match=r"^covariates:"):
        CovariateSums.from_arrays(np.r_[xc[:-1], np.nan], cc)


_any = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 1e-300, 1e300, 1e75, 3.0, 50.0]),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    n=st.one_of(st.integers(-2, 10**6), st.sampled_from([math.nan, 2.5])),
    values=st.lists(_any, min_size=9, max_size=9),
    ratio=st.booleans(),
)
def test_any_numbers_give_a_named_error_or_a_finite_answer(n, values, ratio):
    """Whatever sums come in: ``ValueError("<argument>: ...")`` or a p-value in [0, 1]."""
    d = 3
    sums = values[:d]
    cross = np.empty((d, d))
    cross[np.triu_indices(d)] = values[d:]
    cross = np.triu(cross) + np.triu(cross, 1).T
    try:
        group = CovariateSums(n, sums, cross, ratio=ratio)
        other = CovariateSums(n, [s * 1.01 for s in sums], cross * 1.03, ratio=ratio)
        kind = "ratio" if ratio else "mean"
        head = [dict(sum_x=sums[0], sum_x2=cross[0, 0])]
        if ratio:
            head[0].update(sum_y=sums[1], sum_y2=cross[1, 1], sum_xy=cross[0, 1])
        plain = SufficientStats(n, **head[0])
        scaled = {k: v * (1.01 if k in ("sum_x", "sum_y") else 1.03) for k, v in head[0].items()}
        result = analyze_metric(
            kind, plain, SufficientStats(n, **scaled), control_covariates=group,
            treatment_covariates=other,
        )  # fmt: skip
    except ValueError as error:
        assert argument_name(error), f"unnamed ValueError: {error}"
        return
    assert 0 <= result.p_value <= 1
    assert math.isfinite(result.absolute_effect)
