"""Seeded simulations of CUPED for ratios, CUPED with two covariates and winsorised means
(reduced size; ``benchmarks/variance_reduction.py`` runs them at full size): A/A false
positives 5% +- 1.5%, interval coverage 93-97%, and a real cut in variance."""

from __future__ import annotations

import math

import pytest

from benchmarks.variance_reduction import LIFT, MU, SIGMA, SIMULATIONS, winsorized_truth

EXPERIMENTS, USERS = 1_500, 300


@pytest.mark.parametrize(
    ("name", "most_variance_left"),
    [("ratio", 0.8), ("multi", 0.5), ("winsorized", 0.8), ("winsorized_cuped", 0.6)],
)
def test_error_rates_and_variance_reduction(name, most_variance_left):
    figures = SIMULATIONS[name](EXPERIMENTS, USERS)
    assert 0.035 <= figures.false_positive_rate <= 0.065, figures
    assert 0.93 <= figures.coverage <= 0.97, figures
    assert figures.variance_ratio < most_variance_left, figures


def test_winsorized_truth_is_below_the_raw_effect():
    # The capped effect is smaller than the raw one, exp(mu + sigma^2/2) * (lift - 1).
    raw = math.exp(MU + SIGMA**2 / 2) * (LIFT - 1)
    assert 0 < winsorized_truth() < raw
