"""Power of the always-valid test read at several looks, and the planner's size for it
(issue 12, figure 4: "in sequential mode at the planner's sequential size")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from analytics.stats import analyze_many, plan_experiment
from analytics.stats.sequential import (
    MAX_LOOKS,
    final_look_critical,
    fixed_horizon_equivalent_alpha,
    sequential_drift,
    sequential_power,
)

Z80 = float(special.ndtri(0.8))


def _brownian_power(drift: float, looks: int, alpha: float, paths: int, seed: int) -> float:
    """Monte Carlo oracle: Brownian motion with drift at equally spaced looks, each look
    rejecting when its always-valid p-value (the mixture likelihood ratio) is below alpha."""
    rng = np.random.default_rng(seed)
    fractions = np.arange(1, looks + 1) / looks
    steps = rng.standard_normal((paths, looks)) * np.sqrt(np.diff(fractions, prepend=0.0))
    z = (np.cumsum(steps, axis=1) + drift * fractions) / np.sqrt(fractions)
    log_term = -2 * math.log(alpha)
    r = fractions * (log_term + math.log(log_term + 1))
    log_l = -0.5 * np.log1p(r) + r / (1 + r) * z**2 / 2
    return float(np.mean((log_l >= math.log(1 / alpha)).any(axis=1)))


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
@pytest.mark.parametrize("drift", [0.0, 2.0, 3.9])
def test_one_look_is_the_closed_form(alpha, drift):
    c = final_look_critical(alpha)
    exact = special.ndtr(drift - c) + special.ndtr(-drift - c)
    assert sequential_power(drift, 1, alpha) == pytest.approx(exact, abs=2e-5)


@pytest.mark.parametrize(("looks", "seed"), [(2, 1), (7, 2), (14, 3)])
def test_several_looks_match_a_brownian_monte_carlo(looks, seed):
    drift = final_look_critical(0.05) + Z80
    paths = 200_000
    simulated = _brownian_power(drift, looks, 0.05, paths, seed)
    se = math.sqrt(0.2 * 0.8 / paths)
    assert sequential_power(drift, looks, 0.05) == pytest.approx(simulated, abs=4 * se)


def test_more_looks_more_power_and_no_more_than_alpha_under_the_null():
    drift = final_look_critical(0.05) + Z80
    powers = [sequential_power(drift, looks) for looks in (1, 2, 7, 14)]
    assert powers == sorted(powers) and powers[0] == pytest.approx(0.8, abs=1e-4)
    assert powers[2] == pytest.approx(0.8297, abs=1e-3)
    for looks in (1, 7, 28):
        assert sequential_power(0.0, looks) <= 0.05  # Ville: valid however often one looks


def test_drift_solves_for_the_power_and_the_equivalent_alpha_sizes_it():
    for looks in (1, 7):
        drift = sequential_drift(0.05, 0.8, looks)
        assert sequential_power(drift, looks) == pytest.approx(0.8, abs=1e-6)
        z_alpha = -special.ndtri(fixed_horizon_equivalent_alpha(0.05, looks, 0.8) / 2)
        assert z_alpha + Z80 == pytest.approx(drift, abs=1e-4 if looks > 1 else 1e-3)
    assert sequential_drift(0.05, 0.8, 7) < sequential_drift(0.05, 0.8, 1)


def test_the_planner_sizes_daily_reads_and_the_report_delivers_the_power():
    """Seven equally sized daily batches, the report's always-valid p-value at each look:
    some look rejects in 80% of 20,000 experiments at the planned size."""
    fixed = plan_experiment(baseline=0.1, mde=0.1)
    once = plan_experiment(baseline=0.1, mde=0.1, sequential=True)
    daily = plan_experiment(baseline=0.1, mde=0.1, sequential=True, looks=7)
    assert fixed.sample_size.total < daily.sample_size.total < once.sample_size.total
    assert "read 7 times" in daily.test
    experiments, looks = 20_000, 7
    rng = np.random.default_rng(4)
    per_look = round(daily.sample_size.control / looks)
    n = per_look * np.arange(1, looks + 1) * 1.0
    control = np.cumsum(rng.binomial(per_look, 0.1, (experiments, looks)), axis=1)
    treated = np.cumsum(rng.binomial(per_look, 0.11, (experiments, looks)), axis=1)
    batch = analyze_many(
        "proportion", {"n": np.tile(n, experiments), "sum_x": control.ravel() * 1.0},
        {"n": np.tile(n, experiments), "sum_x": treated.ravel() * 1.0}, sequential=True,
        planned_total=daily.sample_size.total, cuped=False,
    )  # fmt: skip
    rejected = batch.columns["sequential_p_value"].reshape(experiments, looks) < 0.05
    assert rejected.any(axis=1).mean() == pytest.approx(0.8, abs=0.015)


def test_looks_must_be_a_positive_count():
    with pytest.raises(ValueError, match="^looks: "):
        sequential_power(3.0, 0)
    with pytest.raises(ValueError, match="^looks: "):
        plan_experiment(baseline=0.1, mde=0.1, sequential=True, looks=0)


@pytest.mark.parametrize("looks", [MAX_LOOKS + 1, 10**9, 2.5, True, "7"])
def test_looks_are_a_bounded_whole_number(looks):
    """A huge count would make the plan's numerical integration run for minutes."""
    with pytest.raises(ValueError, match="^looks: "):
        plan_experiment(baseline=0.1, mde=0.1, sequential=True, looks=looks)
    with pytest.raises(ValueError, match="^looks: "):
        sequential_power(3.0, looks)


def test_a_fixed_horizon_plan_is_read_once():
    with pytest.raises(ValueError, match="^looks: .*sequential"):
        plan_experiment(baseline=0.1, mde=0.1, looks=7)
    assert plan_experiment(baseline=0.1, mde=0.1, looks=1).looks == 1


def test_the_most_looks_are_planned():
    """More looks, more chances to reject: the most looks need the fewest users."""
    most = plan_experiment(baseline=0.1, mde=0.1, sequential=True, looks=MAX_LOOKS)
    daily = plan_experiment(baseline=0.1, mde=0.1, sequential=True, looks=7)
    assert most.looks == MAX_LOOKS and f"read {MAX_LOOKS} times" in most.test
    assert most.sample_size.total < daily.sample_size.total
