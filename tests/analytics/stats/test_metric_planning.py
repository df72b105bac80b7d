"""Planning one-sided (fixed and sequential) tests, quantiles, winsorised means and CUPED.

Oracles: statsmodels' power classes, closed forms (one-sided z: ``z_{1-alpha}`` in place of
``z_{1-alpha/2}``), numerical integration (scipy) of the capped log-normal's moments,
Monte Carlo of the Brownian motion behind the sequential test and of the quantile test's
own standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats
from statsmodels.stats.power import NormalIndPower

from analytics.stats import (
    argument_name,
    arm_quantile,
    plan_experiment,
    sample_size_means,
    winsorization_cap,
    winsorize,
)
from analytics.stats import metric_planning as mp
from analytics.stats.sequential import (
    final_look_critical,
    fixed_horizon_equivalent_alpha,
    sequential_drift,
    sequential_power,
)

Z_POWER = special.ndtri(0.8)


# --- one-sided, fixed horizon ---------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["larger", "smaller"])
def test_one_sided_fixed_plan_uses_z_one_minus_alpha(alternative):
    sign = 1 if alternative == "larger" else -1
    plan = plan_experiment(
        "mean", std=30, mde=sign * 1.5, mde_relative=False, method="z", alternative=alternative
    )
    closed = 2 * (special.ndtri(0.95) + Z_POWER) ** 2 * 30**2 / 1.5**2
    assert plan.sample_size.control_exact == pytest.approx(closed, rel=1e-9)
    reference = NormalIndPower().solve_power(
        effect_size=sign * 0.05, alpha=0.05, power=0.8, ratio=1.0, alternative=alternative
    )
    assert plan.sample_size.control_exact == pytest.approx(reference, rel=1e-6)
    two_sided = plan_experiment("mean", std=30, mde=1.5, mde_relative=False, method="z")
    assert plan.sample_size.total < 0.8 * two_sided.sample_size.total
    assert plan.alternative == alternative and plan.test.startswith("one-sided")


def test_one_sided_plan_refuses_the_wrong_direction():
    with pytest.raises(ValueError, match="^alternative: "):
        plan_experiment(baseline=0.05, mde=-0.1, alternative="larger")


# --- one-sided, sequential ------------------------------------------------------------------


def test_one_look_one_sided_sequential_is_a_z_test_at_the_final_critical_value():
    c = final_look_critical(0.05)
    assert fixed_horizon_equivalent_alpha(0.05, 1, alternative="larger") == pytest.approx(
        special.ndtr(-c), rel=1e-12
    )
    for drift in (1.0, 3.0, 4.5):
        assert sequential_power(drift, 1, alternative="larger") == pytest.approx(
            special.ndtr(drift - c), abs=2e-5
        )
        assert sequential_power(-drift, 1, alternative="smaller") == pytest.approx(
            special.ndtr(drift - c), abs=2e-5
        )
    plan = plan_experiment(
        "mean", std=30, mde=1.5, mde_relative=False, sequential=True, alternative="larger"
    )
    closed = 2 * (c + Z_POWER) ** 2 * 30**2 / 1.5**2
    assert plan.sample_size.control_exact == pytest.approx(closed, rel=1e-9)


def test_one_sided_sequential_power_matches_brownian_motion_with_looks():
    rng = np.random.default_rng(7)
    looks, drift, runs = 7, 3.2, 40_000
    fractions = np.arange(1, looks + 1) / looks
    steps = rng.normal(drift / looks, math.sqrt(1 / looks), (runs, looks))
    score = np.cumsum(steps, axis=1)  # S(f) = z_f sqrt(f)
    log_term = -2 * math.log(0.05)
    r = fractions * (log_term + math.log(log_term + 1))
    boundary = np.sqrt((1 + r) / r * (2 * math.log(20) + np.log1p(r))) * np.sqrt(fractions)
    simulated = float(np.mean((score >= boundary).any(axis=1)))  # upper side only
    se = math.sqrt(simulated * (1 - simulated) / runs)
    assert sequential_power(drift, looks, alternative="larger") == pytest.approx(
        simulated, abs=4 * se
    )
    # A one-sided test never rejects more than the two-sided one whose boundary it uses.
    assert sequential_power(drift, looks, alternative="larger") <= sequential_power(drift, looks)


def test_one_sided_sequential_plan_reaches_its_power_in_simulation():
    from analytics.stats import analyze_many

    plan = plan_experiment(
        "mean", std=1.0, mde=0.1, mde_relative=False, sequential=True, looks=5,
        alternative="larger",
    )  # fmt: skip
    drift = sequential_drift(0.05, 0.8, 5, "larger")
    assert fixed_horizon_equivalent_alpha(0.05, 5, 0.8, "larger") == pytest.approx(
        special.ndtr(-(drift - Z_POWER)), rel=1e-12
    )
    rng = np.random.default_rng(3)
    runs, n_c, n_t = 4000, plan.sample_size.control, plan.sample_size.treatment
    rejected = np.zeros(runs, dtype=bool)
    sums = np.zeros((2, runs, 2))  # (arm, run, [sum, sum of squares])
    for look in range(1, 6):
        for arm, (n, mean) in enumerate(((n_c, 0.0), (n_t, 0.1))):
            users = n * look // 5 - n * (look - 1) // 5
            x = rng.normal(mean, 1.0, (runs, users))
            sums[arm, :, 0] += x.sum(axis=1)
            sums[arm, :, 1] += (x * x).sum(axis=1)
        batch = analyze_many(
            "mean",
            {"n": np.full(runs, n_c * look // 5), "sum_x": sums[0, :, 0], "sum_x2": sums[0, :, 1]},
            {"n": np.full(runs, n_t * look // 5), "sum_x": sums[1, :, 0], "sum_x2": sums[1, :, 1]},
            sequential=True, planned_total=plan.sample_size.total, alternative="larger",
        )  # fmt: skip
        rejected |= batch.columns["significant"]
    assert abs(rejected.mean() - 0.8) < 0.035, rejected.mean()


# --- quantiles ------------------------------------------------------------------------------


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_quantile_standard_error_tends_to_the_density_form(quantile):
    sigma, n = 1.2, 10_000_000
    dist = mp.lognormal(sigma)
    z_p = special.ndtri(quantile)
    density_form = (
        math.exp(sigma * z_p) * sigma * math.sqrt(quantile * (1 - quantile) / n)
        / stats.norm.pdf(z_p)
    )  # fmt: skip
    assert mp.quantile_std_error(dist, quantile, n) == pytest.approx(density_form, rel=1e-4)


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_quantile_standard_error_is_what_the_test_computes(quantile):
    """The planner's Woodruff se at n users against the test's own, on log-normal samples."""
    rng = np.random.default_rng(11)
    sigma, n = 1.0, 3000
    observed = [
        arm_quantile(np.exp(rng.normal(0, sigma, n)), quantile).std_error for _ in range(300)
    ]
    planned = mp.quantile_std_error(mp.lognormal(sigma), quantile, n)
    assert np.mean(observed) == pytest.approx(planned, rel=0.02)


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_quantile_plan_matches_the_asymptotic_closed_form(quantile):
    sigma, m = 1.0, 0.05
    plan = plan_experiment("quantile", quantile=quantile, lognormal_sigma=sigma, mde=m)
    z_p = special.ndtri(quantile)
    unit = sigma * math.sqrt(quantile * (1 - quantile)) / stats.norm.pdf(z_p)  # relative sd
    closed = (special.ndtri(0.975) + Z_POWER) ** 2 * unit**2 * (1 + (1 + m) ** 2) / m**2
    assert plan.sample_size.control_exact == pytest.approx(closed, rel=0.01)
    assert plan.achieved_power == pytest.approx(0.8, abs=2e-3)
    assert plan.mde_relative == m and "Woodruff" in plan.test and "log-normal" in plan.test
    # The same plan from a large pilot sample (no shape assumed): within sampling error.
    pilot = np.exp(np.random.default_rng(5).normal(0, sigma, 1_000_000))
    from_pilot = plan_experiment("quantile", quantile=quantile, baseline_values=pilot, mde=m)
    assert from_pilot.sample_size.control == pytest.approx(plan.sample_size.control, rel=0.03)
    assert "pilot" in from_pilot.test


def test_quantile_plan_scales_absolute_effects_by_the_baseline():
    relative = plan_experiment("quantile", quantile=0.9, lognormal_sigma=1.0, mde=0.1)
    absolute = plan_experiment(
        "quantile", quantile=0.9, lognormal_sigma=1.0, baseline=300, mde=30, mde_relative=False
    )
    assert absolute.sample_size.total == relative.sample_size.total
    assert absolute.mde_absolute == pytest.approx(30) and absolute.mde_relative == pytest.approx(
        0.1
    )
    one_sided = plan_experiment(
        "quantile", quantile=0.9, lognormal_sigma=1.0, mde=0.1, alternative="larger"
    )
    assert one_sided.sample_size.control < relative.sample_size.control


# --- winsorised means and CUPED -------------------------------------------------------------


@pytest.mark.parametrize(("sigma", "percentile"), [(0.5, 0.9), (1.2, 0.99), (2.0, 0.95)])
def test_capped_lognormal_moments_match_numerical_integration(sigma, percentile):
    cap = math.exp(sigma * special.ndtri(percentile))
    pdf = stats.lognorm(sigma).pdf
    first = integrate.quad(lambda x: x * pdf(x), 0, cap, epsabs=1e-13)[0] + cap * (1 - percentile)
    second = integrate.quad(lambda x: x * x * pdf(x), 0, cap, epsabs=1e-13)[0]
    second += cap**2 * (1 - percentile)
    mean, sd = mp.winsorized_lognormal_cv(sigma, percentile)
    assert mean == pytest.approx(first, rel=1e-7)
    assert sd == pytest.approx(math.sqrt(second - first**2), rel=1e-6)


def _capped_arm(sigma: float, log_mean: float, cap: float) -> tuple[float, float]:
    """Mean and sd of min(X, cap) by numerical integration (independent of the closed form)."""
    pdf = stats.lognorm(sigma, scale=math.exp(log_mean)).pdf
    tail = stats.lognorm(sigma, scale=math.exp(log_mean)).sf(cap)
    first = integrate.quad(lambda x: x * pdf(x), 0, cap, epsabs=1e-12, limit=200)[0]
    second = integrate.quad(lambda x: x * x * pdf(x), 0, cap, epsabs=1e-12, limit=200)[0]
    first, second = first + cap * tail, second + cap**2 * tail
    return first, math.sqrt(second - first**2)


def test_winsorised_plan_uses_both_arms_capped_at_the_pooled_percentile():
    sigma, percentile, k = 1.2, 0.99, 1.1
    cap = optimize.brentq(
        lambda c: 0.5 * stats.lognorm(sigma).cdf(c) + 0.5 * stats.lognorm(sigma, scale=k).cdf(c)
        - percentile, 1e-3, 1e4, xtol=1e-13,
    )  # fmt: skip
    (m_c, s_c), (m_t, s_t) = _capped_arm(sigma, 0.0, cap), _capped_arm(sigma, math.log(k), cap)
    plan = plan_experiment(
        "mean", lognormal_sigma=sigma, winsorize_percentile=percentile, baseline=100,
        mde=m_t / m_c - 1,
    )  # fmt: skip
    assert plan.std == pytest.approx(100 * math.sqrt((s_c**2 + s_t**2) / 2) / m_c, rel=1e-6)
    assert plan.sample_size == sample_size_means(plan.std, 100 * (m_t / m_c - 1))
    # Above the control's own capped sd: that one promised more power than the test has.
    own_mean, own_sd = mp.winsorized_lognormal_cv(sigma, percentile)
    assert plan.std > 1.03 * 100 * own_sd / own_mean
    uncapped = plan_experiment("mean", lognormal_sigma=sigma, baseline=100, mde=0.09)
    assert plan.sample_size.total < 0.7 * uncapped.sample_size.total  # why one caps
    # Uncapped: the treatment's sd is (1 + mde) times the control's.
    mean, sd = mp.lognormal_mean_sd(sigma)
    assert uncapped.std == pytest.approx(100 * sd / mean * math.sqrt((1 + 1.09**2) / 2))
    # A pilot is capped at its own nearest-rank percentile, as the report caps.
    pilot = np.exp(np.random.default_rng(2).normal(4, 1.2, 5000))
    capped = winsorize(pilot, winsorization_cap(pilot, 0.99))
    from_pilot = plan_experiment("mean", baseline_values=pilot, winsorize_percentile=0.99, mde=0.05)
    assert from_pilot.std == pytest.approx(capped.std(ddof=1), rel=1e-12)
    assert from_pilot.mde_absolute == pytest.approx(0.05 * capped.mean(), rel=1e-12)


def test_cuped_variance_reduction_plans_the_adjusted_standard_deviation():
    plan = plan_experiment("mean", std=50, baseline=100, mde=0.05, variance_reduction=0.4)
    assert plan.sample_size == sample_size_means(50 * math.sqrt(0.6), 5.0)
    assert "CUPED" in plan.test


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"metric": "quantile", "lognormal_sigma": 1.0}, "quantile"),
        ({"metric": "quantile", "quantile": 0.5}, "lognormal_sigma"),
        ({"metric": "quantile", "quantile": 1.5, "lognormal_sigma": 1.0}, "quantile"),
        ({"metric": "quantile", "quantile": 0.5, "lognormal_sigma": -1}, "lognormal_sigma"),
        ({"metric": "proportion", "baseline": 0.1, "quantile": 0.5}, "quantile"),
        ({"metric": "proportion", "baseline": 0.1, "winsorize_percentile": 0.99},
         "winsorize_percentile"),
        ({"metric": "mean", "std": 1, "baseline": 1, "winsorize_percentile": 0.3},
         "percentile"),
        ({"metric": "mean", "std": 1, "baseline": 1, "variance_reduction": 1.0},
         "variance_reduction"),
        ({"metric": "mean", "baseline": 1, "baseline_values": [1.0, 2.0]}, "baseline_values"),
        ({"metric": "mean", "std": 1, "baseline": 1, "lognormal_sigma": 1}, "lognormal_sigma"),
    ],
)  # fmt: skip
def test_bad_options_are_refused_by_name(arguments, name):
    with pytest.raises(ValueError) as error:
        plan_experiment(mde=0.05, **arguments)
    assert argument_name(error.value) == name


NAMES = {"metric", "mde", "baseline", "std", "alpha", "power", "ratio", "alternative",
         "quantile", "lognormal_sigma", "winsorize_percentile", "percentile",
         "variance_reduction", "looks", "baseline_values"}  # fmt: skip


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    metric=st.sampled_from(["mean", "quantile"]),
    mde=st.floats(-2, 2),
    quantile=st.one_of(st.none(), st.floats(-0.5, 1.5)),
    sigma=st.one_of(st.none(), st.floats(-1, 12)),
    percentile=st.one_of(st.none(), st.floats(0, 1.2)),
    reduction=st.floats(-0.5, 1.5),
    alternative=st.sampled_from(["two-sided", "larger", "smaller"]),
    sequential=st.booleans(),
)
def test_arbitrary_metric_plans_give_a_plan_or_a_named_error(
    metric, mde, quantile, sigma, percentile, reduction, alternative, sequential
):
    try:
        plan = plan_experiment(
            metric, mde=mde, baseline=100.0, quantile=quantile, lognormal_sigma=sigma,
            winsorize_percentile=percentile if metric == "mean" else None,
            variance_reduction=reduction if metric == "mean" else 0.0,
            alternative=alternative, sequential=sequential, curve_points=3,
        )  # fmt: skip
    except ValueError as error:
        assert argument_name(error) in NAMES, str(error)
    else:
        assert plan.sample_size.control >= 1 and 0 < plan.achieved_power <= 1
        assert all(math.isfinite(p.power) for p in plan.curve)
