"""Differences of quantiles: golden numbers by hand, agreement with scipy, degenerate data,
validation, and (reduced) simulations on log-normal user-clustered data; the full-size
simulations are ``benchmarks/quantiles.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analytics.stats import arm_quantile, compare_quantiles, quantile_difference
from analytics.stats.quantiles import min_units, quantile_label

Z = stats.norm.ppf(0.975)


def test_one_value_per_user_by_hand():
    # 1..100 at the median: Q = 50.5, 50 users at or below it, so sigma_F = sqrt(50 * 0.25) /
    # 100 = 0.05 (= sqrt(p (1 - p) / n)); the levels 0.5 -+ z 0.05 map through the linear
    # quantile 1 + 99 level, so the interval is 50.5 -+ 99 z 0.05 and se = 99 * 0.05 = 4.95.
    arm = arm_quantile(np.arange(1, 101), 0.5)
    assert arm.value == 50.5
    assert arm.level_std_error == pytest.approx(0.05, abs=1e-12)
    assert arm.lower == pytest.approx(50.5 - 99 * Z * 0.05, abs=1e-9)
    assert arm.upper == pytest.approx(50.5 + 99 * Z * 0.05, abs=1e-9)
    assert arm.std_error == pytest.approx(4.95, abs=1e-9)
    assert (arm.observations, arm.units, arm.problem) == (100, 100, "")


def test_difference_by_hand():
    result = quantile_difference(np.arange(1, 101), np.arange(11, 111), quantile=0.5)
    se = 4.95 * math.sqrt(2)
    assert result.absolute_effect == pytest.approx(10.0)
    assert result.std_error == pytest.approx(se, abs=1e-9)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(10 / se), abs=1e-12)
    assert result.absolute_ci == pytest.approx((10 - Z * se, 10 + Z * se), abs=1e-9)
    lift_se = math.sqrt(4.95**2 / 50.5**2 + 60.5**2 * 4.95**2 / 50.5**4)
    assert result.relative_effect == pytest.approx(60.5 / 50.5 - 1, abs=1e-12)
    assert result.relative_std_error == pytest.approx(lift_se, abs=1e-12)
    assert result.relative_ci[0] == pytest.approx(result.relative_effect - Z * lift_se)
    assert not result.significant and result.note == ""
    assert (result.control_n, result.treatment_n) == (100, 100)


def test_clustered_level_variance_by_hand():
    # Users a: [1, 2], b: [3], c: [4, 5, 6]; the median is 3.5, so S = (2, 1, 0) and
    # N = (2, 1, 3): sum (S - 0.5 N)^2 = 1 + 0.25 + 2.25 = 3.5 over (sum N)^2 = 36.
    arm = arm_quantile([1, 2, 3, 4, 5, 6], 0.5, clusters=["a", "a", "b", "c", "c", "c"])
    assert arm.value == 3.5
    assert arm.level_std_error == pytest.approx(math.sqrt(3.5) / 6, abs=1e-12)
    assert (arm.observations, arm.units) == (6, 3)
    assert arm.problem.startswith("3 users; a p50 needs at least 20")
    assert math.isnan(arm.std_error)


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9, 0.99])
def test_estimate_agrees_with_scipy(quantile):
    x = np.random.default_rng(1).lognormal(3, 1.2, 5_000)
    assert arm_quantile(x, quantile).value == pytest.approx(
        float(stats.quantile(x, quantile)), rel=1e-12
    )


def test_standard_error_agrees_with_scipy_bootstrap():
    x = np.random.default_rng(2).lognormal(3, 1.0, 3_000)
    arm = arm_quantile(x, 0.9)
    boot = stats.bootstrap(
        (x,), lambda v, axis: np.quantile(v, 0.9, axis=axis), n_resamples=2_000,
        vectorized=True, rng=np.random.default_rng(3), method="percentile",
    )  # fmt: skip
    assert arm.std_error == pytest.approx(boot.standard_error, rel=0.12)


def _clustered(rng, users: int, sd_user: float, sd_event: float = 0.5):
    """Log-normal events with a per-user random effect; 1 + Poisson(4) events per user."""
    counts = 1 + rng.poisson(4, users)
    user_effect = rng.normal(0, sd_user, users)
    labels = np.repeat(np.arange(users), counts)
    values = np.exp(3 + user_effect[labels] + rng.normal(0, sd_event, labels.size))
    return values, labels


def test_clustered_standard_error_agrees_with_a_user_bootstrap_and_exceeds_the_naive_one():
    rng = np.random.default_rng(4)
    values, labels = _clustered(rng, 2_000, sd_user=1.0)
    clustered = arm_quantile(values, 0.5, clusters=labels)
    naive = arm_quantile(values, 0.5)
    starts = np.concatenate([[0], np.cumsum(np.bincount(labels))])
    medians = []
    for _ in range(400):
        users = rng.integers(0, 2_000, 2_000)
        picked = np.concatenate([values[starts[u] : starts[u + 1]] for u in users])
        medians.append(np.quantile(picked, 0.5))
    assert clustered.std_error == pytest.approx(np.std(medians, ddof=1), rel=0.15)
    assert clustered.std_error > 1.5 * naive.std_error
    assert clustered.units == 2_000 and naive.units == values.size


def _simulate(rng, replicates: int, users: int, lift: float, quantile: float):
    """p-values and covariage of the true absolute and relative differences."""
    truth = math.exp(3 + math.sqrt(1.0 + 0.25) * stats.norm.ppf(quantile))
    p, covered, covered_relative = [], [], []
    for _ in range(replicates):
        c, c_users = _clustered(rng, users, sd_user=1.0)
        t, t_users = _clustered(rng, users, sd_user=1.0)
        result = quantile_difference(
            c, t * (1 + lift), quantile=quantile, control_clusters=c_users,
            treatment_clusters=t_users,
        )  # fmt: skip
        p.append(result.p_value)
        lo, hi = result.absolute_ci
        covered.append(lo <= lift * truth <= hi)
        rlo, rhi = result.relative_ci
        covered_relative.append(rlo <= lift <= rhi)
    return np.array(p), np.mean(covered), np.mean(covered_relative)


def test_aa_false_positives_and_coverage_on_clustered_lognormal_data():
    # Reduced (400 replicates, binomial sd about 1.1 points); benchmarks/quantiles.py runs
    # 2,000 against the 5 % +- 1.5 and 93-97 %.
    p, covered, _ = _simulate(np.random.default_rng(5), 400, 400, lift=0.0, quantile=0.5)
    assert 0.025 <= np.mean(p < 0.05) <= 0.08
    assert 0.92 <= covered <= 0.98
    _, covered, covered_relative = _simulate(
        np.random.default_rng(6), 300, 400, lift=0.1, quantile=0.9
    )
    assert 0.91 <= covered <= 0.985
    assert 0.91 <= covered_relative <= 0.985


def test_ignoring_the_clusters_understates_the_variance():
    rng = np.random.default_rng(7)
    rejections = 0
    for _ in range(200):
        c, _ = _clustered(rng, 300, sd_user=1.0)
        t, _ = _clustered(rng, 300, sd_user=1.0)
        rejections += quantile_difference(c, t, quantile=0.5).p_value < 0.05
    assert rejections / 200 > 0.12  # several times the nominal 5 %: why clusters matter


def test_too_few_users_is_not_enough_data():
    x = np.random.default_rng(8).lognormal(size=99)
    result = quantile_difference(x, x * 3, quantile=0.9)
    assert result.note.startswith("not enough data: control: 99 users; a p90 needs at least 100")
    assert result.p_value == 1.0 and not result.significant
    assert all(math.isnan(b) for b in result.absolute_ci)
    assert min_units(0.5) == 20 and min_units(0.9) == 100 and min_units(0.99) == 1000


def test_all_equal_values_are_not_enough_data():
    result = quantile_difference(np.zeros(500), np.full(500, 7.0), quantile=0.5)
    assert (
        result.note == "not enough data: both arms' p50 lies on a tied value (no spread around it)"
    )
    assert result.p_value == 1.0 and not result.significant
    assert result.absolute_effect == 7.0


def test_a_median_on_a_block_of_zeros_is_pinned_and_noted():
    rng = np.random.default_rng(9)
    control = np.concatenate([np.zeros(700), rng.lognormal(size=300)])  # 70 % watched nothing
    treatment = rng.lognormal(size=1_000)
    result = quantile_difference(control, treatment, quantile=0.5)
    assert result.control.std_error == 0 and result.control.value == 0
    assert "the control's p50 lies on a tied value" in result.note
    assert "relative effect not meaningful" in result.note
    assert math.isnan(result.relative_effect)
    assert result.significant  # the treatment's median is clearly above 0


def test_sequential_interval_is_wider_and_decides():
    rng = np.random.default_rng(10)
    c, t = rng.lognormal(3, 1, 2_000), rng.lognormal(3.1, 1, 2_000)
    fixed = quantile_difference(c, t, quantile=0.5)
    sequential = quantile_difference(c, t, quantile=0.5, sequential=True, planned_total=4_000)
    assert sequential.sequential_p_value >= fixed.p_value
    assert sequential.absolute_ci == sequential.sequential_ci
    assert sequential.absolute_ci[0] < fixed.absolute_ci[0] < fixed.absolute_ci[1]
    assert sequential.absolute_ci[1] > fixed.absolute_ci[1]
    assert sequential.significant == (sequential.sequential_p_value < 0.05)


def test_one_sided_alternative_gives_a_half_line():
    rng = np.random.default_rng(11)
    c, t = rng.lognormal(3, 1, 1_000), rng.lognormal(3.2, 1, 1_000)
    two = quantile_difference(c, t, quantile=0.5)
    larger = quantile_difference(c, t, quantile=0.5, alternative="larger")
    assert larger.p_value == pytest.approx(two.p_value / 2)
    assert larger.absolute_ci[1] == math.inf
    smaller = quantile_difference(c, t, quantile=0.5, alternative="smaller", sequential=True)
    assert smaller.sequential_p_value == 1.0 and smaller.absolute_ci[0] == -math.inf


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"control": [1.0, math.nan] * 20}, "control"),
        ({"treatment": [1.0, math.inf] * 20}, "treatment"),
        ({"control": []}, "control"),
        ({"control": [[1.0, 2.0]] * 20}, "control"),
        ({"control": ["a"] * 40}, "control"),
        ({"treatment": [1e80] * 40}, "treatment"),
        ({"quantile": 1.0}, "quantile"),
        ({"quantile": 0.0}, "quantile"),
        ({"quantile": math.nan}, "quantile"),
        ({"alpha": 1.5}, "alpha"),
        ({"alternative": "bigger"}, "alternative"),
        ({"control_clusters": [1, 2]}, "control_clusters"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    arguments = {"control": list(range(40)), "treatment": list(range(40)), "quantile": 0.5}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        quantile_difference(**arguments)


def test_arms_of_different_levels_are_refused():
    x = np.arange(200.0)
    with pytest.raises(ValueError, match="^treatment: "):
        compare_quantiles(arm_quantile(x, 0.5), arm_quantile(x, 0.9))
    with pytest.raises(ValueError, match="^control: "):
        compare_quantiles(x, arm_quantile(x, 0.9))


def test_labels():
    assert [quantile_label(q) for q in (0.5, 0.9, 0.999)] == ["p50", "p90", "p99.9"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=20, max_size=200),
    st.lists(st.floats(-1e6, 1e6), min_size=20, max_size=200),
    st.sampled_from([0.25, 0.5, 0.75]),
)
def test_properties_on_any_finite_data(control, treatment, quantile):
    result = quantile_difference(control, treatment, quantile=quantile)
    swapped = quantile_difference(treatment, control, quantile=quantile)
    assert 0.0 <= result.p_value <= 1.0
    assert result.p_value == pytest.approx(swapped.p_value, abs=1e-12)
    assert result.absolute_effect == pytest.approx(-swapped.absolute_effect, abs=1e-6)
    lo, hi = result.absolute_ci
    if result.enough_data:
        assert lo <= result.absolute_effect <= hi
    else:
        assert result.p_value == 1.0 and math.isnan(lo) and not result.significant
