"""Every public function refuses bad input by name, on every path (issue 13).

Properties: whatever numbers come in (NaN, infinities, negatives, huge, impossible sums), a
public function of ``analytics.stats`` either returns finite numbers where it promises them
(p-values in [0, 1]) or raises ``ValueError("<argument>: ...")``; never another exception,
never a silent NaN or infinite p-value.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import stats as S
from analytics.stats import argument_name

_any = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, 1, -1, 0.5, 1e-300, 1e300, 2, 10, 1000]),
)
_count = st.one_of(st.integers(-5, 10**6), st.sampled_from([math.nan, math.inf, 1.5, 2**60]))
_prob = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([math.nan, math.inf, 0, 1, 0.05]))


def _named(call) -> object | None:
    try:
        return call()
    except ValueError as error:
        assert argument_name(error), f"unnamed ValueError: {error}"
        return None


def _finite(*values: float) -> None:
    for value in values:
        assert math.isfinite(value), values


SETTINGS = settings(max_examples=250, deadline=None, derandomize=True)


@SETTINGS
@given(x_c=_count, n_c=_count, x_t=_count, n_t=_count, alpha=_prob)
def test_two_proportion_ztest(x_c, n_c, x_t, n_t, alpha):
    r = _named(lambda: S.two_proportion_ztest(x_c, n_c, x_t, n_t, alpha=alpha))
    if r is not None:
        assert 0 <= r.p_value <= 1 and not math.isnan(r.statistic)


@SETTINGS
@given(m_c=_any, v_c=_any, n_c=_count, m_t=_any, v_t=_any, n_t=_count, alpha=_prob)
def test_welch_ttest(m_c, v_c, n_c, m_t, v_t, n_t, alpha):
    r = _named(lambda: S.welch_ttest(m_c, v_c, n_c, m_t, v_t, n_t, alpha=alpha))
    if r is not None:
        assert 0 <= r.p_value <= 1
        _finite(r.absolute_effect, r.std_error)


@SETTINGS
@given(baseline=_any, mde=_any, alpha=_prob, power=_prob, ratio=_any,
       method=st.sampled_from(["pooled", "unpooled", "cohen_h"]))  # fmt: skip
def test_proportion_power_functions(baseline, mde, alpha, power, ratio, method):
    size = _named(lambda: S.sample_size_proportions(
        baseline, mde, alpha=alpha, power=power, ratio=ratio, method=method))  # fmt: skip
    if size is not None:
        assert size.control >= 1 and size.treatment >= 1
        p = _named(lambda: S.power_proportions(
            baseline, mde, size.control, alpha=alpha, ratio=ratio, method=method))  # fmt: skip
        assert p is not None and 0 <= p <= 1
    m = _named(lambda: S.mde_proportions(1000, baseline, alpha=alpha, power=power, ratio=ratio,
                                         method=method))  # fmt: skip
    if m is not None:
        _finite(m.absolute, m.relative)


@SETTINGS
@given(std=_any, mde=_any, n=_count, alpha=_prob, power=_prob, ratio=_any,
       method=st.sampled_from(["t", "z"]))  # fmt: skip
def test_mean_power_functions(std, mde, n, alpha, power, ratio, method):
    size = _named(lambda: S.sample_size_means(
        std, mde, alpha=alpha, power=power, ratio=ratio, method=method))  # fmt: skip
    if size is not None:
        assert size.control >= 1
    p = _named(lambda: S.power_means(std, mde, n, alpha=alpha, ratio=ratio, method=method))
    if p is not None:
        assert 0 <= p <= 1
    m = _named(lambda: S.mde_means(n, std, alpha=alpha, power=power, ratio=ratio, method=method))
    if m is not None:
        _finite(m.absolute)


@SETTINGS
@given(baseline=_any, std=_any, mde=_any, alpha=_prob, power=_prob, daily=_any, share=_any,
       metric=st.sampled_from(["proportion", "mean"]), sequential=st.booleans())  # fmt: skip
def test_plan_experiment(baseline, std, mde, alpha, power, daily, share, metric, sequential):
    plan = _named(lambda: S.plan_experiment(
        metric, baseline=baseline, std=std, mde=mde, alpha=alpha, power=power,
        daily_users=daily, traffic_share=share, sequential=sequential, curve_points=5,
    ))  # fmt: skip
    if plan is not None:
        assert all(0 <= p.power <= 1 for p in plan.curve)


@SETTINGS
@given(effect=_any, variance=_any, n=_count, alpha=_prob, planned=_count, sd=_any,
       method=st.sampled_from(["asymptotic", "msprt"]))  # fmt: skip
def test_always_valid_test(effect, variance, n, alpha, planned, sd, method):
    r = _named(
        lambda: S.always_valid_test(
            effect, variance, n, alpha=alpha, method=method, planned_total=planned, mixing_sd=sd
        )
    )
    if r is not None:
        assert 0 <= r.p_value <= 1


@SETTINGS
@given(effects=st.lists(_any, min_size=1, max_size=4), variances=st.lists(_any, min_size=1,
       max_size=4), alpha=_prob)  # fmt: skip
def test_always_valid_history(effects, variances, alpha):
    k = min(len(effects), len(variances))
    r = _named(lambda: S.always_valid_history(
        effects[:k], variances[:k], list(range(1, k + 1)), alpha=alpha))  # fmt: skip
    if r is not None:
        assert np.all((r.p_values >= 0) & (r.p_values <= 1))


@SETTINGS
@given(counts=st.lists(_count, min_size=0, max_size=4), weights=st.lists(_any, min_size=0,
       max_size=4), threshold=_prob)  # fmt: skip
def test_srm_test(counts, weights, threshold):
    r = _named(lambda: S.srm_test(counts, weights[: len(counts)], threshold=threshold))
    if r is not None:
        assert 0 <= r.p_value <= 1


@SETTINGS
@given(p=st.lists(_any, max_size=5), method=st.sampled_from(["holm", "bh"]))
def test_adjust_pvalues(p, method):
    r = _named(lambda: S.adjust_pvalues(p, method))
    if r is not None:
        assert np.all((r >= 0) & (r <= 1))


@SETTINGS
@given(x_c=_count, n_c=_count, x_t=_count, n_t=_count, a=_any, b=_any,
       method=st.sampled_from(["exact", "monte_carlo"]))  # fmt: skip
def test_probability_to_beat_control(x_c, n_c, x_t, n_t, a, b, method):
    r = _named(
        lambda: S.probability_to_beat_control(
            x_c, n_c, x_t, n_t, prior_alpha=a, prior_beta=b, method=method, draws=1000
        )
    )
    if r is not None:
        assert 0 <= r.probability_to_beat <= 1


@SETTINGS
@given(y=st.lists(_any, max_size=5), c=st.lists(_any, max_size=5), theta=st.none() | _any)
def test_cuped_adjust(y, c, theta):
    k = min(len(y), len(c))
    r = _named(lambda: S.cuped_adjust(y[:k], c[:k], theta=theta))
    if r is not None:
        assert np.all(np.isfinite(r.adjusted)) and math.isfinite(r.theta)


_field = st.one_of(st.none(), _any)


@SETTINGS
@given(kind=st.sampled_from(["proportion", "mean", "ratio"]),
       n=st.lists(_count, min_size=2, max_size=2),
       sums=st.lists(_field, min_size=16, max_size=16),
       margin=_any, relative=st.booleans(), sequential=st.booleans())  # fmt: skip
def test_sufficient_stats_paths(kind, n, sums, margin, relative, sequential):
    """Scalar path (SufficientStats, analyze_metric, noninferiority_test) and column path
    (analyze_many on arrays) refuse the same impossible sums by name."""
    names = ("sum_x", "sum_x2", "sum_y", "sum_y2", "sum_xy", "sum_c", "sum_c2", "sum_xc")
    groups = []
    for g, values in enumerate((sums[:8], sums[8:])):
        given_sums = {k: v for k, v in zip(names, values, strict=True) if v is not None}
        given_sums.setdefault("sum_x", 0)
        groups.append((n[g], given_sums))
    columns = [
        {"n": np.array([float(k)]), **{f: np.array([float(v)]) for f, v in s.items()}}
        for k, s in groups
    ]
    many = _named(lambda: S.analyze_many(kind, *columns, sequential=sequential))
    if many is not None:
        cols = many.columns
        assert np.all((cols["p_value"] >= 0) & (cols["p_value"] <= 1)), cols["p_value"]
    stats = [_named(lambda k=k, s=s: S.SufficientStats(n=k, **s)) for k, s in groups]
    if None in stats:
        return
    one = _named(lambda: S.analyze_metric(kind, *stats, sequential=sequential))
    if one is not None:
        assert 0 <= one.p_value <= 1
    ni = _named(
        lambda: S.noninferiority_test(
            kind, *stats, margin=margin, margin_relative=relative, sequential=sequential
        )
    )
    if ni is not None:
        assert 0 <= ni.p_value <= 1 and not math.isnan(ni.bound)


def _raises_named(call, argument: str) -> None:
    try:
        call()
    except ValueError as error:
        assert str(error).startswith(f"{argument}: "), str(error)
    else:
        raise AssertionError(f"no ValueError naming {argument}")


def test_impossible_sums_are_refused_on_both_paths():
    """Each case passed silently before issue 13 on at least one path."""
    sums = {"n": 10.0, "sum_x": 5.0, "sum_x2": 9.0, "sum_y": 20.0, "sum_y2": 50.0, "sum_xy": 15.0}
    good = {k: np.array([v]) for k, v in sums.items()}
    cases = [
        ({"sum_y2": 1.0}, "sum_y2"),  # below sum_y^2 / n
        ({"sum_xy": 100.0}, "sum_xy"),  # beyond Cauchy-Schwarz
        ({"sum_x2": math.inf}, "sum_x2"),
        ({"n": -3.0}, "n"),
    ]
    for change, argument in cases:
        bad = good | {k: np.array([v]) for k, v in change.items()}
        _raises_named(lambda bad=bad: S.analyze_many("ratio", good, bad), f"treatment.{argument}")
        scalar = {k: float(v[0]) for k, v in bad.items()}
        _raises_named(lambda s=scalar: S.SufficientStats(**s), argument)
    _raises_named(lambda: S.SufficientStats(10, 1, sum_c=5, sum_c2=0.5, sum_xc=0), "sum_c2")
    _raises_named(lambda: S.always_valid_history([0.1, math.nan], [1, 1], [1, 2]), "effects")
    _raises_named(lambda: S.always_valid_test(math.inf, 1.0, 10), "effect")
    _raises_named(lambda: S.cuped_adjust([1e300, -1e300], [1e300, -1e300]), "metric")
