"""Bayesian analysis of any metric's effect (means, ratios, rates): GrowthBook's engine.

The data give an effect estimate ``d`` (by default the relative lift ``m_t / m_c - 1``) with
standard error ``s``; with a Gaussian prior ``N(mu0, v0)`` on the effect (``proper=False``: a
flat prior, GrowthBook's default), the posterior is Gaussian (GrowthBook, gbstats
``bayesian/tests.py``, ``EffectBayesianABTest.compute_result``)::

    prec = 1 / s^2 + 1 / v0                      (1 / s^2 for a flat prior)
    mean = (d / s^2 + mu0 / v0) / prec           (d for a flat prior),   sd = sqrt(1 / prec)

and it reports

* chance to win ``P(effect > 0) = Phi(mean / sd)`` (``1 - that`` for an ``inverse`` metric,
  where lower is better);
* the ``1 - alpha`` credible interval ``mean -+ z_{1-alpha/2} sd``;
* risk, the expected loss of each choice (``get_risk``): choosing control loses
  ``E[max(effect, 0)] = mean Phi(mean/sd) + sd phi(mean/sd)``; choosing the treatment loses
  ``E[max(-effect, 0)] = sd phi(mean/sd) - mean Phi(-mean/sd)`` (the truncated-normal means
  gbstats computes with ``truncnorm``, in closed form; the two swap for inverse metrics).

Vectorised: arrays broadcast, one call for a whole report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from analytics.stats._inference import Array
from analytics.stats._validation import check_positive, check_real, check_unit_open


@dataclass(frozen=True)
class EffectPrior:
    """A Gaussian prior ``N(mean, variance)`` on the relative effect; ``proper=False`` is
    GrowthBook's default flat prior (mean and variance then unused)."""

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False

    def __post_init__(self) -> None:
        check_real("mean", self.mean)
        check_positive("variance", self.variance)


@dataclass(frozen=True)
class EffectPosterior:
    """Posterior of the effect per pair (arrays): mean, sd, chance to win, credible
    interval, and the risk (expected loss) of choosing control / the treatment."""

    mean: np.ndarray
    sd: np.ndarray
    chance_to_win: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    risk_control: np.ndarray
    risk_treatment: np.ndarray


def effect_posterior(
    effect: Array,
    std_error: Array,
    *,
    prior_mean: float = 0.0,
    prior_variance: float = 1.0,
    proper: bool = False,
    alpha: float = 0.05,
    inverse: bool = False,
) -> EffectPosterior:
    """GrowthBook's Gaussian effect posterior (module docstring) for arrays of estimates.

    Rows with a non-finite effect or standard error (e.g. a relative effect that is not
    meaningful) come back NaN; a zero standard error with a flat prior is a point mass.
    """
    alpha = check_unit_open("alpha", alpha)
    prior_mean = check_real("prior_mean", prior_mean)
    prior_variance = check_positive("prior_variance", prior_variance)
    d = np.asarray(effect, dtype=float)
    s2 = np.asarray(std_error, dtype=float) ** 2
    if np.any(s2 < 0):
        raise ValueError("std_error: must not be negative")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        data_prec = np.where(s2 > 0, 1 / s2, np.inf)
        if proper:
            prec = data_prec + 1 / prior_variance
            mean = np.where(s2 > 0, (d * data_prec + prior_mean / prior_variance) / prec, d)
        else:
            prec, mean = data_prec, d
        sd = np.sqrt(1 / prec)
        z = mean / sd
        z = np.where(sd > 0, z, np.copysign(np.inf, mean) * (mean != 0))
        win = special.ndtr(z)
        density = np.where(np.isfinite(z), np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi), 0.0)
        sd_phi = np.where(sd > 0, sd * density, 0.0)
        loss_control = np.where(np.isfinite(z), mean * win + sd_phi, np.maximum(mean, 0))
        loss_treatment = np.where(
            np.isfinite(z), sd_phi - mean * special.ndtr(-z), np.maximum(-mean, 0)
        )
        half = special.ndtri(1 - alpha / 2) * sd
    if inverse:
        win, loss_control, loss_treatment = 1 - win, loss_treatment, loss_control
    bad = ~(np.isfinite(d) & np.isfinite(s2))
    nan = np.nan

    def clean(loss: np.ndarray) -> np.ndarray:
        return np.where(bad, nan, np.maximum(loss, 0))  # losses are >= 0 (up to rounding)

    return EffectPosterior(
        mean=np.where(bad, nan, mean),
        sd=np.where(bad, nan, sd),
        chance_to_win=np.where(bad, nan, np.clip(win, 0, 1)),
        lower=np.where(bad, nan, mean - half),
        upper=np.where(bad, nan, mean + half),
        risk_control=clean(loss_control),
        risk_treatment=clean(loss_treatment),
    )
