"""Bayesian comparison of two rates: the probability that the treatment beats control."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from analytics.stats._validation import (
    check_choice,
    check_count,
    check_positive,
    check_successes,
)

METHODS = ("exact", "monte_carlo")
# Above this many terms the exact sum is replaced by the normal approximation of the two
# posteriors, whose error (skewness ~ 1/sqrt(alpha)) is then below 1e-3 and shrinking.
EXACT_MAX_TERMS = 2_000_000
MAX_DRAWS = 10_000_000
PRIOR_RANGE = (1e-6, 1e9)


@dataclass(frozen=True)
class BayesResult:
    """``P(p_t > p_c | data)`` under independent Beta priors, and the posterior means."""

    probability_to_beat: float
    control_posterior_mean: float
    treatment_posterior_mean: float
    method: str = "exact"

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability_to_beat <= 1.0:
            raise ValueError("probability_to_beat: must lie in [0, 1]")


def _beats_exact(a_c: float, b_c: float, a_t: float, b_t: float) -> float:
    """``P(p_t > p_c)`` for ``p_c ~ Beta(a_c, b_c)``, ``p_t ~ Beta(a_t, b_t)``, integer ``a_t``.

    Closed form (Evan Miller, "Formulas for Bayesian A/B testing", 2015):
    ``sum_{i=0}^{a_t - 1} B(a_c + i, b_c + b_t) / ((b_t + i) B(1 + i, b_t) B(a_c, b_c))``,
    summed in log space.
    """
    i = np.arange(int(a_t), dtype=float)
    terms = (
        special.betaln(a_c + i, b_c + b_t)
        - np.log(b_t + i)
        - special.betaln(1 + i, b_t)
        - special.betaln(a_c, b_c)
    )
    return float(np.exp(special.logsumexp(terms))) if terms.size else 0.0


def _beats_normal(a_c: float, b_c: float, a_t: float, b_t: float) -> float:
    """``Phi((m_t - m_c) / sqrt(v_t + v_c))`` with the Beta posteriors' means and variances."""
    mean_c, mean_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    var_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1))
    var_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1))
    return float(special.ndtr((mean_t - mean_c) / np.sqrt(var_c + var_t)))


def probability_to_beat_control(
    x_control: int,
    n_control: int,
    x_treatment: int,
    n_treatment: int,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    method: str = "exact",
    draws: int = 200_000,
    seed: int = 0,
) -> BayesResult:
    """Probability that the treatment's rate exceeds the control's (Beta-Binomial model).

    Posteriors: ``Beta(prior_alpha + x, prior_beta + n - x)`` per group. ``method="exact"``
    sums Evan Miller's closed form over the smaller of the two posterior alphas (which must
    then be whole: whole-number priors; beyond ``EXACT_MAX_TERMS`` successes in both groups
    the normal approximation is used and ``method`` reads ``"normal"``); ``"monte_carlo"``
    draws ``draws`` pairs from a generator seeded with ``seed`` (standard error about
    ``0.5 / sqrt(draws)``).
    """
    n_c = check_count("n_control", n_control)
    n_t = check_count("n_treatment", n_treatment)
    x_c = check_successes("x_control", x_control, n_c)
    x_t = check_successes("x_treatment", x_treatment, n_t)
    prior_alpha = check_positive("prior_alpha", prior_alpha)
    prior_beta = check_positive("prior_beta", prior_beta)
    for name, value in (("prior_alpha", prior_alpha), ("prior_beta", prior_beta)):
        if not PRIOR_RANGE[0] <= value <= PRIOR_RANGE[1]:  # samplers and sums fail beyond
            raise ValueError(f"{name}: must lie within [1e-6, 1e9], got {value}")
    method = check_choice("method", method, METHODS)
    a_c, b_c = prior_alpha + x_c, prior_beta + n_c - x_c
    a_t, b_t = prior_alpha + x_t, prior_beta + n_t - x_t
    if method == "monte_carlo":
        draws = check_count("draws", draws, minimum=1)
        if draws > MAX_DRAWS:
            raise ValueError(f"draws: at most {MAX_DRAWS:,}, got {draws:,}")
        rng = np.random.default_rng(seed)
        probability = float(np.mean(rng.beta(a_t, b_t, draws) > rng.beta(a_c, b_c, draws)))
    else:
        if not float(prior_alpha).is_integer():
            raise ValueError("prior_alpha: the exact form needs a whole number; use monte_carlo")
        # Sum over the smaller alpha; P(t > c) = 1 - P(c > t) for continuous posteriors.
        if min(a_t, a_c) > EXACT_MAX_TERMS:
            method = "normal"
            probability = _beats_normal(a_c, b_c, a_t, b_t)
        elif a_t <= a_c:
            probability = _beats_exact(a_c, b_c, a_t, b_t)
        else:
            probability = 1.0 - _beats_exact(a_t, b_t, a_c, b_c)
        probability = min(1.0, max(0.0, probability))
    return BayesResult(
        probability_to_beat=probability,
        control_posterior_mean=a_c / (a_c + b_c),
        treatment_posterior_mean=a_t / (a_t + b_t),
        method=method,
    )


__all__ = ["BayesResult", "probability_to_beat_control"]
