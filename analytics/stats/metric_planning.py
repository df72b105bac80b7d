"""Planning inputs for metrics beyond a plain rate or mean: quantiles and winsorised means.

The planner sizes each test with the variance the test itself will use, so both make the
same promise. Both metrics are amounts (seconds watched) whose distribution the analyst
states in one of two ways:

* a **log-normal** per-user distribution with log-scale standard deviation ``sigma`` (the
  standard deviation of ``log(value)`` over users, read from past data; watch time is
  typically 1 to 1.5). With a relative MDE no scale is needed: every quantity below scales
  with the distribution's median, so a plan depends on ``sigma``, the level and the MDE;
* a **pilot sample** of per-user values (``baseline_values``: last month's users), whose
  empirical quantile function stands in for the distribution; nothing is assumed about its
  shape, and no density is estimated.

The treatment is assumed to multiply every user's value by ``1 + mde_relative`` (a shift
of the log-mean), so its quantiles are the control's times ``1 + mde_relative``.

Quantiles (``analytics.stats.quantiles``): the test's standard error of an arm's sample
quantile at ``n`` users is Woodruff's, backed out of the interval of the level::

    sigma_F = sqrt(p (1 - p) / n),   se(n) = (Q(p + z sigma_F) - Q(p - z sigma_F)) / (2 z)

with ``z = z_{1-alpha/2}`` and ``Q`` the quantile function; the planner evaluates exactly
this with the population's ``Q`` (log-normal: ``Q(u) = median exp(sigma Phi^-1(u))``; pilot:
``numpy.quantile(values, u)``, type 7 as the test). For large ``n`` it tends to the
density form ``sqrt(p (1 - p) / n) / f(Q(p))`` (log-normal:
``Q(p) sigma sqrt(p (1 - p) / n) / phi(z_p)``) without a density ever being estimated. The
difference's ``se_d = sqrt(se_c(n_c)^2 + se_t(n_t)^2)`` with ``se_t = (1 + mde) se_c`` and
the effect ``mde Q(p)`` enter the z-test's power; an arm below the test's minimum users, or
whose level interval leaves (0, 1), has "not enough data" and no power.

Winsorised means (``analytics.stats.winsorize``): the test is Welch's on ``min(x, cap)``
with the cap at the pooled ``percentile``, so the plan is a mean plan with the capped
metric's standard deviation: the one the analyst measured on a pilot (capped the same way),
or the log-normal's in closed form. With ``c = exp(sigma z_q)`` (median 1, ``z_q =
Phi^-1(q)``) and ``E[X^k; X < c] = exp(k^2 sigma^2 / 2) Phi(z_q - k sigma)``::

    E[min(X, c)]   = exp(sigma^2 / 2) Phi(z_q - sigma) + c (1 - q)
    E[min(X, c)^2] = exp(2 sigma^2) Phi(z_q - 2 sigma) + c^2 (1 - q)

(Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 1, 1994, ch. 14,
the log-normal's partial moments). The MDE is stated on the capped mean (what the report
compares). The log-normal plan models the treatment as well (``lognormal_arms``): values
times the ``k`` that moves the capped mean by the MDE, both arms capped at the pooled
percentile, each with its own capped sd, combined into the difference's variance
(``effective_sd``); the control's own-percentile sd alone promised 80% and delivered 76% at
a +9% effect (``benchmarks/planned_power.py``). A pilot's or a given sd is used for both arms
(slightly optimistic for large effects). The cap's own sampling noise is ignored (it comes
from both arms pooled; under 1% of the effect's sd in that benchmark).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from analytics.stats._validation import check_positive, check_unit_open
from analytics.stats.quantiles import min_units
from analytics.stats.winsorize import check_percentile

QuantileFunction = Callable[[np.ndarray], np.ndarray]
Values = Sequence[float] | np.ndarray

# A log-scale sd beyond this is no per-user amount (exp(10 z) spans 40 orders of magnitude)
# and overflows the partial moments.
MAX_SIGMA = 10.0


def check_sigma(value: object) -> float:
    """A log-normal's log-scale standard deviation, in ``(0, MAX_SIGMA]``."""
    sigma = check_positive("lognormal_sigma", value)
    if sigma > MAX_SIGMA:
        raise ValueError(f"lognormal_sigma: must be at most {MAX_SIGMA:g}, got {sigma}")
    return sigma


def check_values(values: Values) -> np.ndarray:
    """A pilot sample: finite per-user values, at least 20 of them, not all equal."""
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("baseline_values: must be a sequence of numbers") from None
    if x.ndim != 1 or x.size < 20:
        raise ValueError("baseline_values: needs a one-dimensional sample of at least 20 users")
    if not np.all(np.isfinite(x)):
        raise ValueError("baseline_values: must be finite (no NaN or infinity)")
    if np.ptp(x) == 0:
        raise ValueError("baseline_values: all equal; a plan needs spread")
    return np.sort(x)


@dataclass(frozen=True)
class Distribution:
    """A per-user distribution the planner assumes: its quantile function and a label."""

    quantile_function: QuantileFunction
    description: str

    def quantile(self, level: float) -> float:
        return float(self.quantile_function(np.asarray([level]))[0])


def lognormal(sigma: float, median: float = 1.0) -> Distribution:
    """Log-normal per-user values: ``Q(u) = median exp(sigma Phi^-1(u))``."""
    sigma, median = check_sigma(sigma), check_positive("baseline", median)
    return Distribution(
        lambda u: median * np.exp(sigma * special.ndtri(u)),
        f"log-normal per-user values (log-scale sd {sigma:g})",
    )


def empirical(values: Values) -> Distribution:
    """A pilot sample's quantile function (``numpy.quantile``, type 7, as the test)."""
    x = check_values(values)
    return Distribution(
        lambda u: np.quantile(x, u), f"the empirical distribution of {x.size:,} pilot users"
    )


def quantile_std_error(
    distribution: Distribution, quantile: float, n: float, alpha: float = 0.05
) -> float:
    """The test's (Woodruff) standard error of one arm's ``quantile`` at ``n`` users, as the
    module docstring; ``inf`` where the test would say "not enough data"."""
    if n < min_units(quantile):
        return math.inf
    z = float(special.ndtri(1 - alpha / 2))
    level_se = math.sqrt(quantile * (1 - quantile) / n)
    low, high = quantile - z * level_se, quantile + z * level_se
    if not 0 < low < high < 1:
        return math.inf
    lower, upper = distribution.quantile_function(np.asarray([low, high]))
    return float(upper - lower) / (2 * z)


def quantile_difference_std_error(
    distribution: Distribution,
    quantile: float,
    mde_relative: float,
    n_control: float,
    ratio: float,
    alpha: float,
) -> float:
    """``se_d`` of the difference of quantiles at ``n_control`` control users, the
    treatment's values being the control's times ``1 + mde_relative``."""
    se_c = quantile_std_error(distribution, quantile, n_control, alpha)
    se_t = (1 + mde_relative) * quantile_std_error(distribution, quantile, n_control * ratio, alpha)
    return math.hypot(se_c, se_t)


def winsorized_lognormal_cv(sigma: float, percentile: float) -> tuple[float, float]:
    """Mean and standard deviation of ``min(X, Q(percentile))`` for a log-normal ``X`` of
    median 1 (closed form: module docstring); scale both by the median for other scales."""
    sigma, q = check_sigma(sigma), check_percentile(percentile)
    z_q = float(special.ndtri(q))
    cap = math.exp(sigma * z_q)
    first = math.exp(sigma**2 / 2) * special.ndtr(z_q - sigma) + cap * (1 - q)
    second = math.exp(2 * sigma**2) * special.ndtr(z_q - 2 * sigma) + cap**2 * (1 - q)
    return float(first), math.sqrt(max(float(second) - float(first) ** 2, 0.0))


def _partial_moments(sigma: float, log_mean: float, cap: float) -> tuple[float, float]:
    """Mean and sd of ``min(X, cap)`` for ``log X ~ N(log_mean, sigma^2)`` (``cap`` may be
    ``inf``: no capping)."""
    if math.isinf(cap):
        mean = math.exp(log_mean + sigma**2 / 2)
        return mean, mean * math.sqrt(math.expm1(sigma**2))
    z = (math.log(cap) - log_mean) / sigma
    tail = float(special.ndtr(-z))
    first = math.exp(log_mean + sigma**2 / 2) * float(special.ndtr(z - sigma)) + cap * tail
    second = math.exp(2 * log_mean + 2 * sigma**2) * float(special.ndtr(z - 2 * sigma))
    second += cap**2 * tail
    return first, math.sqrt(max(second - first**2, 0.0))


def _pooled_log_cap(sigma: float, log_scale: float, percentile: float, ratio: float) -> float:
    """``log`` of the pooled ``percentile`` of control (log-mean 0) and treatment (log-mean
    ``log_scale``) users, mixed ``1 : ratio``; it lies between the two arms' own."""
    weight = ratio / (1 + ratio)
    own = sigma * float(special.ndtri(percentile))

    def gap(t: float) -> float:
        pooled = (1 - weight) * special.ndtr(t / sigma)
        return float(pooled + weight * special.ndtr((t - log_scale) / sigma)) - percentile

    low, high = own + min(0.0, log_scale) - 1e-9, own + max(0.0, log_scale) + 1e-9
    return float(optimize.brentq(gap, low, high, xtol=1e-13))


def lognormal_arms(
    sigma: float, percentile: float | None, mde_relative: float, ratio: float = 1.0
) -> tuple[float, float, float]:
    """Control mean, control sd and treatment sd of the (capped) metric, control median 1,
    when the treatment multiplies every value by the ``k`` that moves the (capped) mean by
    ``mde_relative``.

    Without capping ``k = 1 + mde_relative`` and the treatment's sd is ``k`` times the
    control's. With capping both arms are capped at the pooled ``percentile`` (of the
    mixture, ``1 : ratio``), which lies above the control's own when the treatment raises
    values, and ``k`` solves ``E[min(kX, c)] / E[min(X, c)] = 1 + mde_relative`` (Brent's
    method); a test on capped values sees these two sds, not the control's alone.
    """
    sigma = check_sigma(sigma)
    if not mde_relative > -1:
        raise ValueError("mde: a (capped) mean cannot fall by 100% or more")
    if percentile is None:
        mean, sd = _partial_moments(sigma, 0.0, math.inf)
        return mean, sd, (1 + mde_relative) * sd
    percentile = check_percentile(percentile)

    def arms(log_scale: float) -> tuple[float, float, float, float]:
        cap = math.exp(_pooled_log_cap(sigma, log_scale, percentile, ratio))
        control, treated = (
            _partial_moments(sigma, 0.0, cap),
            _partial_moments(sigma, log_scale, cap),
        )
        return control[0], control[1], treated[0], treated[1]

    def gap(log_scale: float) -> float:
        control_mean, _, treated_mean, _ = arms(log_scale)
        return treated_mean / control_mean - 1 - mde_relative

    low, high = -1.0, 1.0
    while gap(low) > 0:
        low *= 2
        if low < -100:
            raise ValueError("mde: no scaling of the values moves the capped mean that far")
    while gap(high) < 0:
        high *= 2
        if high > 100:
            raise ValueError("mde: no scaling of the values moves the capped mean that far")
    control_mean, control_sd, _, treated_sd = arms(optimize.brentq(gap, low, high, xtol=1e-12))
    return control_mean, control_sd, treated_sd


def effective_sd(control_sd: float, treated_sd: float, ratio: float) -> float:
    """The common sd with the difference's variance of two arms' sds at ``n_t = ratio n_c``:
    ``s^2 (1 + 1/ratio) = s_c^2 + s_t^2 / ratio``."""
    return math.sqrt((control_sd**2 + treated_sd**2 / ratio) / (1 + 1 / ratio))


def lognormal_mean_sd(sigma: float) -> tuple[float, float]:
    """Mean and standard deviation of a log-normal of median 1 (no capping)."""
    sigma = check_sigma(sigma)
    mean = math.exp(sigma**2 / 2)
    return mean, mean * math.sqrt(math.expm1(sigma**2))


def capped_std(values: Values, percentile: float) -> tuple[float, float]:
    """Mean and standard deviation (``n - 1``) of a pilot sample capped at its own
    nearest-rank ``percentile``, as the report caps."""
    from analytics.stats.winsorize import winsorization_cap, winsorize

    x = check_values(values)
    capped = winsorize(x, winsorization_cap(x, check_percentile(percentile)))
    return float(capped.mean()), float(capped.std(ddof=1))


def check_variance_reduction(value: object) -> float:
    """A CUPED variance reduction, the share of the variance the covariates explain
    (``R^2``, in ``[0, 1)``): the adjusted metric has ``sd sqrt(1 - R^2)``."""
    share = check_unit_open("variance_reduction", value) if value != 0 else 0.0
    return float(share)
