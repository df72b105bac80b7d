"""SRM (scipy chisquare), p-value adjustments (statsmodels) and the Bayesian comparison."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests

from analytics.stats import adjust_pvalues, bayes, probability_to_beat_control, srm_test

RTOL = 1e-6


def test_srm_matches_scipy_chisquare_over_a_grid():
    rng = np.random.default_rng(11)
    for _ in range(100):
        k = int(rng.integers(2, 6))
        weights = rng.uniform(0.05, 1, k)
        counts = rng.multinomial(int(rng.integers(50, 200_000)), weights / weights.sum())
        skew = rng.uniform(0.9, 1.1, k)
        counts = np.round(counts * skew).astype(int)
        ours = srm_test(counts.tolist(), weights.tolist())
        oracle = stats.chisquare(counts, counts.sum() * weights / weights.sum())
        assert ours.statistic == pytest.approx(oracle.statistic, rel=RTOL)
        assert ours.p_value == pytest.approx(oracle.pvalue, rel=RTOL, abs=1e-300)
        assert ours.flagged == (oracle.pvalue < 0.001)


def test_srm_flags_a_broken_split():
    assert not srm_test([50_000, 50_300], [0.5, 0.5]).flagged
    broken = srm_test([50_000, 51_500], [0.5, 0.5])
    assert broken.flagged and broken.p_value < 0.001
    assert srm_test([9000, 1000], [90, 10]).p_value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("counts", "weights", "argument"),
    [
        ([10, -1], [1, 1], r"observed_counts\[1\]"),
        ([10, 10], [1, 0], r"expected_weights\[1\]"),
        ([10, 10], [1], "expected_weights"),
        ([0, 0], [1, 1], "observed_counts"),
        ([10], [1], "observed_counts"),
    ],
)
def test_srm_bad_arguments(counts, weights, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        srm_test(counts, weights)


def test_adjustments_match_statsmodels():
    rng = np.random.default_rng(12)
    for _ in range(25):  # statsmodels' holm takes ~0.1 s a call
        p = rng.uniform(0, 1, int(rng.integers(1, 30))) ** rng.uniform(1, 4)
        if rng.uniform() < 0.3:
            p[: p.size // 2] = p[0]  # ties
        assert np.allclose(
            adjust_pvalues(p, "holm"), multipletests(p, method="holm")[1], rtol=RTOL, atol=0
        )
        assert np.allclose(
            adjust_pvalues(p, "bh"), multipletests(p, method="fdr_bh")[1], rtol=RTOL, atol=0
        )
    with pytest.raises(ValueError, match="^method: "):
        adjust_pvalues([0.1], "bonferroni")
    with pytest.raises(ValueError, match="^p_values: "):
        adjust_pvalues([0.1, 1.2])


def _by_quadrature(x_c, n_c, x_t, n_t):
    a_c, b_c, a_t, b_t = 1 + x_c, 1 + n_c - x_c, 1 + x_t, 1 + n_t - x_t
    lo = min(stats.beta.ppf(1e-12, a_c, b_c), stats.beta.ppf(1e-12, a_t, b_t))
    hi = max(stats.beta.isf(1e-12, a_c, b_c), stats.beta.isf(1e-12, a_t, b_t))
    value, _ = integrate.quad(
        lambda p: stats.beta.pdf(p, a_t, b_t) * stats.beta.cdf(p, a_c, b_c), lo, hi,
        epsabs=1e-13, epsrel=1e-10, limit=200,
    )  # fmt: skip
    return value


@pytest.mark.parametrize(
    "counts",
    [(3, 10, 5, 12), (0, 5, 0, 5), (100, 1000, 120, 1000), (1000, 10_000, 1100, 10_000),
     (50, 400, 40, 500), (30, 30, 0, 30)],
)  # fmt: skip
def test_probability_to_beat_matches_quadrature(counts):
    ours = probability_to_beat_control(*counts)
    assert ours.probability_to_beat == pytest.approx(_by_quadrature(*counts), rel=1e-6, abs=1e-9)


def test_probability_to_beat_monte_carlo_is_seeded_and_close():
    first = probability_to_beat_control(100, 1000, 120, 1000, method="monte_carlo", seed=4)
    again = probability_to_beat_control(100, 1000, 120, 1000, method="monte_carlo", seed=4)
    exact = probability_to_beat_control(100, 1000, 120, 1000)
    assert first == again
    assert first.probability_to_beat == pytest.approx(exact.probability_to_beat, abs=0.005)


def test_probability_to_beat_bad_arguments():
    with pytest.raises(ValueError, match="^x_treatment: "):
        probability_to_beat_control(1, 10, 11, 10)
    with pytest.raises(ValueError, match="^prior_alpha: "):
        probability_to_beat_control(1, 10, 1, 10, prior_alpha=0.5)


def test_probability_to_beat_switches_to_normal_for_huge_counts():
    huge = probability_to_beat_control(3_000_000, 30_000_000, 3_003_000, 30_000_000)
    assert huge.method == "normal"
    z = 1e-4 / (2 * 0.1 * 0.9 / 30_000_000) ** 0.5
    assert huge.probability_to_beat == pytest.approx(stats.norm.cdf(z), rel=1e-4)
    # Where both apply, the approximation agrees with the exact sum.
    a_c, b_c, a_t, b_t = 1 + 100_000, 1 + 900_000, 1 + 100_400, 1 + 899_600
    assert bayes._beats_normal(a_c, b_c, a_t, b_t) == pytest.approx(
        bayes._beats_exact(a_c, b_c, a_t, b_t), rel=1e-3
    )
