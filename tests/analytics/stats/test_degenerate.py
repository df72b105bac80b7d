"""Degenerate data never yields a confident answer (issue 13).

Before the fix: control 0/405 against treatment 18/19,974 with tiny CUPED covariates gave
p = 2.7e-5, "significant", a relative effect of 1501; Fisher's exact test gives p = 1.0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analytics.stats import SufficientStats, analyze_many, analyze_metric

API = "/api/v1/stats/analyze"


def _reported_case(covariates: bool) -> tuple[SufficientStats, SufficientStats]:
    extra_c = {"sum_c": 1e-3, "sum_c2": 1e-6, "sum_xc": 0.0} if covariates else {}
    extra_t = {"sum_c": 2e-3, "sum_c2": 1e-6, "sum_xc": 1e-6} if covariates else {}
    return SufficientStats(405, 0, **extra_c), SufficientStats(19_974, 18, **extra_t)


@pytest.mark.parametrize("covariates", [False, True])
@pytest.mark.parametrize("sequential", [False, True])
def test_zero_successes_in_an_arm_gets_fishers_exact_test(covariates, sequential):
    control, treatment = _reported_case(covariates)
    result = analyze_metric("proportion", control, treatment, sequential=sequential)
    fisher = stats.fisher_exact([[18, 19_974 - 18], [0, 405]]).pvalue
    assert result.p_value == pytest.approx(fisher, abs=1e-12) and not result.significant
    assert result.method == "Fisher's exact test" and result.cuped_theta is None
    assert math.isnan(result.relative_effect) and "not meaningful" in result.note
    lower, upper = result.absolute_ci
    assert lower < 0 < upper  # no interval that excludes zero beside p = 1


def test_api_reports_the_exact_test_and_no_relative_effect(api_client):
    body = {
        "kind": "proportion",
        "control": {"n": 405, "sum_x": 0, "sum_c": 1e-3, "sum_c2": 1e-6, "sum_xc": 0},
        "treatment": {"n": 19_974, "sum_x": 18, "sum_c": 2e-3, "sum_c2": 1e-6, "sum_xc": 1e-6},
    }
    response = api_client.post(API, body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["p_value"] > 0.5 and data["significant"] is False
    assert data["relative_effect"] is None and "Fisher" in data["note"]


def test_constant_arms_are_not_enough_data():
    result = analyze_metric("mean", SufficientStats(10, 0.0, 0.0), SufficientStats(10, 10, 10))
    assert result.p_value == 1.0 and not result.significant
    assert result.note.startswith("not enough data")
    assert all(math.isnan(b) for b in result.absolute_ci)
    seq = analyze_metric(
        "mean", SufficientStats(10, 0.0, 0.0), SufficientStats(10, 10, 10), sequential=True
    )
    assert seq.sequential_p_value == 1.0 and not seq.significant


def test_one_flat_arm_borrows_the_other_arms_variance():
    # Control: 400 users, all zero; treatment: 400 users, 3 of them 1. Welch with the flat
    # arm's variance 0 would give p = 0.08 on 399 df; borrowing gives about Fisher's answer.
    result = analyze_metric("mean", SufficientStats(400, 0.0, 0.0), SufficientStats(400, 3.0, 3.0))
    assert "taken from the other arm" in result.note
    fisher = stats.fisher_exact([[3, 397], [0, 400]]).pvalue
    assert result.p_value > 0.15 and fisher > 0.1


def test_near_zero_baseline_has_no_relative_effect():
    # A ratio whose control is 1 click in 40,000 impressions: the lift would read +2,000 %.
    rng = np.random.default_rng(0)
    imps = rng.integers(10, 30, 2000).astype(float)
    clicks_c = np.zeros(2000)
    clicks_c[0] = 1
    clicks_t = rng.binomial(imps.astype(int), 0.001).astype(float)
    result = analyze_metric(
        "ratio",
        SufficientStats.from_arrays(clicks_c, imps),
        SufficientStats.from_arrays(clicks_t, imps),
    )
    assert math.isnan(result.relative_effect) and "not meaningful" in result.note


def test_small_sample_aa_false_positives_stay_at_or_under_alpha():
    """Tiny rates, tiny samples (most tables degenerate): the exact fallback is conservative."""
    rng = np.random.default_rng(7)
    runs, n = 3000, 150
    control = {"n": np.full(runs, n * 1.0), "sum_x": rng.binomial(n, 0.02, runs) * 1.0}
    treatment = {"n": np.full(runs, n * 1.0), "sum_x": rng.binomial(n, 0.02, runs) * 1.0}
    batch = analyze_many("proportion", control, treatment)
    assert np.mean(batch.columns["significant"]) <= 0.05 + 0.005
    assert np.all(np.isfinite(batch.columns["p_value"]))
