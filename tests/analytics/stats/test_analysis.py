"""The report entry points: analyze_metric and analyze_many agree with the single tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.stats import (
    SufficientStats,
    always_valid_test,
    analyze_many,
    analyze_metric,
    argument_name,
    probability_to_beat_control,
    ratio_metric_test,
    two_proportion_ztest,
    welch_ttest,
)


def test_proportion_pair_equals_the_ztest():
    result = analyze_metric(
        "proportion", SufficientStats(10_000, 1000), SufficientStats(10_000, 1100)
    )
    oracle = two_proportion_ztest(1000, 10_000, 1100, 10_000)
    assert result.p_value == oracle.p_value and result.statistic == oracle.statistic
    assert result.absolute_ci == oracle.absolute_ci and result.relative_ci == oracle.relative_ci
    assert result.significant and result.sequential_p_value is None
    bayes = probability_to_beat_control(1000, 10_000, 1100, 10_000)
    assert result.probability_to_beat == bayes.probability_to_beat


def test_mean_pair_equals_welch():
    rng = np.random.default_rng(30)
    a, b = rng.exponential(3, 500), rng.exponential(3.3, 450)
    result = analyze_metric("mean", SufficientStats.from_arrays(a), SufficientStats.from_arrays(b))
    oracle = welch_ttest(a.mean(), a.var(ddof=1), 500, b.mean(), b.var(ddof=1), 450)
    assert result.p_value == pytest.approx(oracle.p_value, rel=1e-9)
    assert result.df == pytest.approx(oracle.df, rel=1e-9)
    assert result.absolute_ci == pytest.approx(oracle.absolute_ci, rel=1e-9)
    assert result.probability_to_beat is None


def test_sequential_pair_uses_the_always_valid_p_value():
    control, treatment = SufficientStats(10_000, 1000), SufficientStats(10_000, 1100)
    result = analyze_metric("proportion", control, treatment, sequential=True, planned_total=20_000)
    oracle = always_valid_test(
        result.absolute_effect, result.std_error**2, 20_000, planned_total=20_000
    )
    assert result.sequential_p_value == pytest.approx(oracle.p_value, rel=1e-12)
    assert result.sequential_ci == pytest.approx(oracle.ci, rel=1e-12)
    assert result.p_value < 0.05 and not result.significant  # peeking-proof is stricter


def _random_pairs(rng, size: int):
    kinds, control, treatment = [], [], []
    for i in range(size):
        kind = ("proportion", "mean", "ratio")[i % 3]
        groups = []
        for _ in range(2):
            n = int(rng.integers(50, 5000))
            if kind == "proportion":
                groups.append(SufficientStats(n, int(rng.binomial(n, 0.1))))
            elif kind == "mean":
                groups.append(SufficientStats.from_arrays(rng.gamma(2, 2, n)))
            else:
                y = rng.poisson(4, n) + 1
                groups.append(SufficientStats.from_arrays(rng.binomial(y, 0.1), y))
        kinds.append(kind)
        control.append(groups[0])
        treatment.append(groups[1])
    return kinds, control, treatment


def test_many_equals_single_calls():
    rng = np.random.default_rng(31)
    kinds, control, treatment = _random_pairs(rng, 30)
    batch = analyze_many(kinds, control, treatment, sequential=True, bayesian=True)
    assert len(batch) == 30
    for i, result in enumerate(batch.results()):
        single = analyze_metric(kinds[i], control[i], treatment[i], sequential=True)
        assert result == single
        if kinds[i] == "ratio":
            oracle = ratio_metric_test(control[i], treatment[i])
            assert result.p_value == pytest.approx(oracle.p_value, rel=1e-12)


def test_many_accepts_column_arrays():
    columns_c = {"n": np.array([1000, 2000]), "sum_x": np.array([100, 230])}
    columns_t = {"n": np.array([1000, 2000]), "sum_x": np.array([120, 200])}
    batch = analyze_many("proportion", columns_c, columns_t)
    assert batch[1].p_value == two_proportion_ztest(230, 2000, 200, 2000).p_value
    assert batch[0].probability_to_beat is None


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"kind": "median"}, "kind"),
        ({"treatment": SufficientStats(100, 99.5)}, "treatment.sum_x"),
        ({"treatment": SufficientStats(0, 0)}, "treatment.n"),
        ({"kind": "ratio"}, "control.sum_y"),
        ({"alpha": 1.5}, "alpha"),
        ({"sequential": True, "sequential_method": "msprt"}, "mixing_sd"),
        ({"sequential": True, "planned_total": 0}, "planned_total"),
        ({"control": "x"}, "control"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, argument):
    call = {"kind": "proportion", "control": SufficientStats(100, 10),
            "treatment": SufficientStats(100, 12)} | kwargs  # fmt: skip
    kind, control, treatment = call.pop("kind"), call.pop("control"), call.pop("treatment")
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        analyze_metric(kind, control, treatment, **call)


def test_mean_of_constant_groups_is_not_an_error():
    result = analyze_metric(
        "mean", SufficientStats(10, 50.0, 250.0), SufficientStats(10, 50.0, 250.0)
    )
    assert result.p_value == 1.0 and result.absolute_effect == 0
    assert not math.isnan(result.statistic)


_numbers = st.one_of(
    st.integers(-5, 10**7), st.floats(allow_nan=True, allow_infinity=True), st.none()
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["proportion", "mean", "ratio"]),
    sums=st.lists(_numbers, min_size=18, max_size=18),
    sequential=st.booleans(),
)
def test_arbitrary_input_gives_a_result_or_a_named_value_error(kind, sums, sequential):
    """No input makes the engine fail with anything but ``ValueError("<argument>: ...")``."""
    fields = ("n", "sum_x", "sum_x2", "sum_y", "sum_y2", "sum_xy", "sum_c", "sum_c2", "sum_xc")
    try:
        groups = []
        for values in (sums[:9], sums[9:]):
            given_sums = {f: v for f, v in zip(fields, values, strict=True) if v is not None}
            given_sums.setdefault("n", 1)
            given_sums.setdefault("sum_x", 0)
            groups.append(SufficientStats(**given_sums))
        result = analyze_metric(kind, *groups, sequential=sequential)
    except ValueError as error:
        assert argument_name(error), str(error)
        return
    assert 0 <= result.p_value <= 1
