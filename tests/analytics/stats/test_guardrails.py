"""Guardrails: the non-inferiority bound agrees with its decision, and survives peeking.

Both failed before issue 13: the bound used ``sqrt(v_t + v_c)`` while the test used the gap's
``sqrt(v_t + a^2 v_c)`` (a relative margin), and the test was fixed-horizon at every look.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.stats import SufficientStats, noninferiority_test

FULL = os.environ.get("SPLITLAB_FULL") == "1"  # make bench: the full-size simulations
RUNS = 2000 if FULL else 300


def _mean_stats(n: int, mean: float, sd: float) -> SufficientStats:
    return SufficientStats(n=n, sum_x=n * mean, sum_x2=(n - 1) * sd**2 + n * mean**2)


@settings(max_examples=300, deadline=None)
@given(
    n_c=st.integers(2, 400), n_t=st.integers(2, 400),
    mean_c=st.floats(0.5, 50), shift=st.floats(-0.5, 0.5),
    sd_c=st.floats(0.01, 40), sd_t=st.floats(0.01, 40),
    margin=st.floats(0.01, 0.5), relative=st.booleans(),
    bad=st.sampled_from(["increase", "decrease"]), sequential=st.booleans(),
)  # fmt: skip
def test_bound_and_decision_never_contradict(
    n_c, n_t, mean_c, shift, sd_c, sd_t, margin, relative, bad, sequential
):
    control = _mean_stats(n_c, mean_c, sd_c)
    treatment = _mean_stats(n_t, mean_c * (1 + shift), sd_t)
    result = noninferiority_test(
        "mean", control, treatment, margin=margin, margin_relative=relative,
        bad_direction=bad, sequential=sequential, planned_total=n_c + n_t,
    )  # fmt: skip
    inside = (
        result.bound < result.threshold if bad == "increase" else result.bound > result.threshold
    )
    if abs(result.bound - result.threshold) > 1e-9 * (1 + abs(result.threshold)):
        assert inside == result.noninferior, result


def test_the_reported_contradiction_is_gone():
    # Relative margin 30 %: a = 1.3, so the control's variance weighs 1.69 times in the test.
    control = _mean_stats(200, 10.0, 22.0)
    treatment = _mean_stats(200, 10.0, 1.0)
    result = noninferiority_test("mean", control, treatment, margin=0.3)
    # Before: bound 2.6 below the threshold 3.0, yet "not non-inferior".
    assert not result.noninferior and result.bound > result.threshold


def _any_look_passes(sequential: bool, runs: int, seed: int) -> float:
    """Share of experiments whose guardrail shows "pass" at some daily look, with the true
    harm exactly at the margin (rate 0.10 -> 0.11, absolute margin 0.01)."""
    rng = np.random.default_rng(seed)
    days, daily = 14, 500
    passed = 0
    for _ in range(runs):
        xc = np.cumsum(rng.binomial(daily, 0.10, days))
        xt = np.cumsum(rng.binomial(daily, 0.11, days))
        for day in range(days):
            n = daily * (day + 1)
            result = noninferiority_test(
                "proportion", SufficientStats(n, int(xc[day])), SufficientStats(n, int(xt[day])),
                margin=0.01, margin_relative=False, sequential=sequential,
                planned_total=2 * daily * days,
            )  # fmt: skip
            if result.noninferior:
                passed += 1
                break
    return passed / runs


def test_peeking_at_a_fixed_horizon_guardrail_passes_a_harmful_treatment_too_often():
    assert _any_look_passes(False, RUNS, seed=5) > 0.12


def test_always_valid_guardrail_keeps_false_passes_under_alpha_at_every_look():
    rate = _any_look_passes(True, RUNS, seed=6)
    assert rate <= 0.05, rate
    result = noninferiority_test(
        "proportion", SufficientStats(1000, 100), SufficientStats(1000, 100), margin=0.05,
        sequential=True,
    )  # fmt: skip
    assert result.method == "always-valid"


def _simulated_ni_power(size, sequential: bool, seed: int, runs: int = 1000) -> float:
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(runs):
        xc = int(rng.binomial(size.control, 0.3))
        xt = int(rng.binomial(size.treatment, 0.3))
        result = noninferiority_test(
            "proportion", SufficientStats(size.control, xc), SufficientStats(size.treatment, xt),
            margin=0.05, sequential=sequential, planned_total=size.total,
        )  # fmt: skip
        wins += result.noninferior
    return wins / runs


def test_guardrail_sample_size_reaches_its_power_fixed_and_sequential():
    from analytics.stats import power_noninferiority, sample_size_noninferiority

    fixed = sample_size_noninferiority("proportion", 0.3, 0.05, ratio=1.0)
    assert power_noninferiority("proportion", 0.3, 0.05, fixed.control) >= 0.8
    assert abs(_simulated_ni_power(fixed, False, seed=11) - 0.8) < 0.04
    sequential = sample_size_noninferiority("proportion", 0.3, 0.05, sequential=True)
    assert sequential.total > 2 * fixed.total
    assert abs(_simulated_ni_power(sequential, True, seed=12) - 0.8) < 0.04
