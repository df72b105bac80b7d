"""GrowthBook's Gaussian effect posterior: golden numbers from gbstats' own formulas
(``EffectBayesianABTest.compute_result`` and ``get_risk``, recomputed here with scipy's
``norm`` and ``truncnorm`` exactly as gbstats does), and the analysis wiring."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, truncnorm

from analytics.stats import SufficientStats, analyze_metric
from analytics.stats.bayes_effect import effect_posterior


def _gbstats(d, s, prior_mean=0.0, prior_var=1.0, proper=False, alpha=0.05, inverse=False):
    s2 = s**2
    prec = 1 / s2 + (1 / prior_var if proper else 0)
    mean = (d / s2 + prior_mean / prior_var) / prec if proper else d
    sd = math.sqrt(1 / prec)
    win = norm.sf(0, mean, sd)
    win = 1 - win if inverse else win
    p_ctrl = norm.cdf(0.0, loc=mean, scale=sd)

    def tmean(a, b):
        return float(truncnorm.stats((a - mean) / sd, (b - mean) / sd, loc=mean, scale=sd,
                                     moments="m"))  # fmt: skip

    risk = [(1 - p_ctrl) * tmean(0, np.inf), -p_ctrl * tmean(-np.inf, 0)]
    risk = risk[::-1] if inverse else risk
    ci = norm.ppf([alpha / 2, 1 - alpha / 2], mean, sd)
    return win, mean, sd, ci, risk


@pytest.mark.parametrize(
    ("d", "s", "kwargs"),
    [(0.03, 0.02, {}), (-0.01, 0.015, {}), (0.05, 0.04, {"proper": True, "prior_var": 0.01}),
     (0.02, 0.01, {"proper": True, "prior_mean": -0.01, "prior_var": 0.0004}),
     (0.01, 0.02, {"inverse": True}), (0.2, 0.1, {"alpha": 0.1})],
)  # fmt: skip
def test_matches_gbstats_formulas(d, s, kwargs):
    win, mean, sd, ci, risk = _gbstats(d, s, **kwargs)
    ours = effect_posterior(
        d, s, prior_mean=kwargs.get("prior_mean", 0.0),
        prior_variance=kwargs.get("prior_var", 1.0), proper=kwargs.get("proper", False),
        alpha=kwargs.get("alpha", 0.05), inverse=kwargs.get("inverse", False),
    )  # fmt: skip
    assert float(ours.chance_to_win) == pytest.approx(win, abs=1e-9)
    assert float(ours.mean) == pytest.approx(mean, abs=1e-12)
    assert float(ours.sd) == pytest.approx(sd, abs=1e-12)
    assert (float(ours.lower), float(ours.upper)) == pytest.approx(tuple(ci), abs=1e-9)
    assert float(ours.risk_control) == pytest.approx(risk[0], abs=1e-9)
    assert float(ours.risk_treatment) == pytest.approx(risk[1], abs=1e-9)


def test_informative_prior_shrinks_towards_it():
    flat = effect_posterior(0.1, 0.05)
    shrunk = effect_posterior(0.1, 0.05, proper=True, prior_variance=0.05**2)
    assert float(shrunk.mean) == pytest.approx(0.05) and shrunk.sd < flat.sd
    assert shrunk.chance_to_win < flat.chance_to_win


def test_analysis_reports_chance_to_win_and_risk_for_means_and_ratios():
    rng = np.random.default_rng(3)
    imps = rng.integers(5, 30, 2000).astype(float)
    ratio = analyze_metric(
        "ratio",
        SufficientStats.from_arrays(rng.binomial(imps.astype(int), 0.05) * 1.0, imps),
        SufficientStats.from_arrays(rng.binomial(imps.astype(int), 0.055) * 1.0, imps),
    )
    # z-based relative interval: its half-width over z_{0.975} is the lift's standard error.
    se = (ratio.relative_ci[1] - ratio.relative_ci[0]) / (2 * 1.959963984540054)
    win, *_, risk = _gbstats(ratio.relative_effect, se)
    assert ratio.chance_to_win == pytest.approx(win, abs=1e-6)
    assert ratio.risk == pytest.approx(tuple(risk), abs=1e-6)
    x_c, x_t = rng.gamma(2.0, 5.0, 3000), rng.gamma(2.0, 5.3, 3000)
    mean = analyze_metric(
        "mean", SufficientStats.from_arrays(x_c), SufficientStats.from_arrays(x_t)
    )
    assert mean.chance_to_win > 0.99 and mean.risk[0] > mean.risk[1] >= 0


def test_aa_chance_to_win_is_uniform_so_95_percent_calls_are_5_percent():
    rng = np.random.default_rng(9)
    from analytics.stats import analyze_many

    runs, n = 4000, 2000
    c = {"n": np.full(runs, n * 1.0), "sum_x": rng.binomial(n, 0.1, runs) * 1.0}
    t = {"n": np.full(runs, n * 1.0), "sum_x": rng.binomial(n, 0.1, runs) * 1.0}
    win = analyze_many("proportion", c, t, bayesian_effect=True).columns["chance_to_win"]
    calls = np.mean((win > 0.975) | (win < 0.025))
    assert 0.035 <= calls <= 0.065, calls
