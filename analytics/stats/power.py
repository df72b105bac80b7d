"""Power analysis: sample size, power, minimum detectable effect and runtime.

Conventions (as statsmodels' ``NormalIndPower`` and ``TTestIndPower``):

* ``ratio`` is the treatment size over the control size, ``n_t = ratio * n_c`` (a 90/10
  split with control the 90 is ``ratio = 1/9``).
* ``mde`` is the smallest effect worth detecting, treatment minus control. With
  ``relative=True`` it is a fraction of the baseline (``0.05`` is +5 %).
* Power counts both rejection tails for a two-sided test::

      power = Phi(s - z_{1-alpha/2}) + Phi(-s - z_{1-alpha/2}),   s = |delta| / se(n)

  and one tail for ``larger`` (``Phi(s - z_{1-alpha})``, ``s = delta / se``) or ``smaller``
  (``Phi(-s - z_{1-alpha})``). Sizes solve ``power(n) = target`` exactly (Brent's method,
  started from the textbook closed form ``n = (z_a + z_b)^2 k / delta^2``) and are rounded up.

Standard errors of the difference at ``n_c`` control units:

* proportions, ``method="unpooled"``: ``se = sqrt(p1 q1 / n_c + p2 q2 / n_t)``
  (Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*, 2008, sec. 4.2);
* proportions, ``method="pooled"``: the power of the test the report runs, the pooled
  two-proportion z-test. Its statistic is standardised by the null standard error
  ``se0 = sqrt(pbar qbar (1/n_c + 1/n_t))``, ``pbar = (p1 + ratio p2) / (1 + ratio)``, while
  the difference varies with the unpooled ``se1``; so
  ``power = Phi((|delta| - z se0) / se1) + Phi((-|delta| - z se0) / se1)`` (Fleiss, Levin &
  Paik, *Statistical Methods for Rates and Proportions*, 2003, eq. 4.14; statsmodels'
  ``power_proportions_2indep``). With an unequal split the unpooled convention can promise
  80 % and deliver 73 % under the pooled test (baseline 0.02, relative MDE 0.5, ratio 4);
* proportions, ``method="cohen_h"``: the arcsine effect size ``h = 2 asin(sqrt p2) -
  2 asin(sqrt p1)`` with ``se = sqrt(1/n_c + 1/n_t)`` (Cohen 1988, ch. 6), exactly what
  ``NormalIndPower().solve_power(proportion_effectsize(p2, p1), ...)`` computes;
* means: ``d = delta / std`` with the noncentral t distribution, ``df = n_c + n_t - 2``
  (``method="t"``, as ``tt_ind_solve_power``) or the normal (``method="z"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from analytics.stats._validation import (
    check_alpha_power,
    check_alternative,
    check_choice,
    check_count,
    check_positive,
    check_real,
    check_unit_open,
)

PROPORTION_METHODS = ("unpooled", "pooled", "cohen_h")
MEAN_METHODS = ("t", "z")


@dataclass(frozen=True)
class SampleSize:
    """Users needed per group; ``control_exact`` is the unrounded solution for the control."""

    control: int
    treatment: int
    total: int
    control_exact: float = math.nan

    def __post_init__(self) -> None:
        if self.control < 1 or self.treatment < 1:
            raise ValueError("sample size: each group needs at least one user")
        if self.total != self.control + self.treatment:
            raise ValueError("total: must equal control + treatment")


@dataclass(frozen=True)
class MinimumDetectableEffect:
    """The smallest effect reaching the target power: absolute and relative to the baseline."""

    absolute: float
    relative: float
    baseline: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.absolute) or self.absolute == 0:
            raise ValueError("absolute: the detectable effect must be finite and non-zero")


# --- power of a standardised shift ---------------------------------------------------------


def _normal_power(
    shift: np.ndarray | float, alpha: float, alternative: str, scale: float = 1.0
) -> np.ndarray:
    """Power of a z-test whose statistic is N(shift, 1) under the alternative.

    ``scale`` multiplies the critical value: the null standard error over the alternative's
    (1 unless the test standardises with a different variance than the estimate has).
    """
    shift = np.asarray(shift, dtype=float)
    if alternative == "two-sided":
        crit = special.ndtri(1 - alpha / 2) * scale
        return special.ndtr(shift - crit) + special.ndtr(-shift - crit)
    crit = special.ndtri(1 - alpha) * scale
    return special.ndtr(shift - crit) if alternative == "larger" else special.ndtr(-shift - crit)


def _t_power(shift: float, df: float, alpha: float, alternative: str) -> float:
    """Power of a t-test whose statistic is noncentral t(df, shift) under the alternative.

    scipy's noncentral t returns NaN deep in some tails (probabilities below ~1e-30); such a
    tail is replaced by its normal approximation, which is as negligible.
    """
    tail = alpha / 2 if alternative == "two-sided" else alpha
    crit = float(stats.t.isf(tail, df))
    upper = float(stats.nct.sf(crit, df, shift))
    lower = float(stats.nct.cdf(-crit, df, shift))
    if math.isnan(upper):
        upper = float(special.ndtr(shift - crit))
    if math.isnan(lower):
        lower = float(special.ndtr(-shift - crit))
    if alternative == "two-sided":
        return upper + lower
    return upper if alternative == "larger" else lower


def _z(alpha: float, power: float, alternative: str) -> float:
    """``z_a + z_b`` of the closed form."""
    tail = alpha / 2 if alternative == "two-sided" else alpha
    return float(special.ndtri(1 - tail) + special.ndtri(power))


def _start_size(z: float, unit_shift: float) -> float:
    """Closed-form start ``(z / shift_at_one_user)^2``, refusing sizes beyond 1e16 users."""
    unit_shift = abs(unit_shift)
    if not math.isfinite(unit_shift) or unit_shift == 0 or z / unit_shift > 1e8:
        raise ValueError("mde: too small to be detected with any realistic sample size")
    return (z / unit_shift) ** 2


def _solve_size(
    power_at: Callable[[float], float], target: float, start: float, low: float
) -> float:
    """The control size ``n`` with ``power_at(n) = target`` (power rises with ``n``)."""
    high = max(start, low * 2, 1e-6)
    while power_at(high) < target:
        high *= 2
        if high > 1e15:
            raise ValueError("mde: too small to be detected with any realistic sample size")
    lo = low
    if power_at(lo) >= target:
        return lo
    return float(optimize.brentq(lambda n: power_at(n) - target, lo, high, xtol=1e-12, rtol=1e-15))


def _sample_size(control_exact: float, ratio: float) -> SampleSize:
    # A hair of tolerance so that a solver landing on 100.0000000001 is not rounded to 101.
    control = max(1, math.ceil(control_exact * (1 - 1e-12)))
    treatment = max(1, math.ceil(control_exact * ratio * (1 - 1e-12)))
    return SampleSize(control, treatment, control + treatment, control_exact)


def _check_direction(effect: float, alternative: str) -> None:
    if alternative == "larger" and effect < 0:
        raise ValueError("alternative: 'larger' cannot detect a decrease (mde < 0)")
    if alternative == "smaller" and effect > 0:
        raise ValueError("alternative: 'smaller' cannot detect an increase (mde > 0)")


# --- proportions ---------------------------------------------------------------------------


def _treatment_rate(baseline: float, mde: float, relative: bool) -> float:
    baseline = check_unit_open("baseline", baseline)
    mde = check_real("mde", mde)
    if mde == 0:
        raise ValueError("mde: must not be zero")
    treated = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < treated < 1:
        raise ValueError(f"mde: moves the baseline {baseline} to {treated}, outside (0, 1)")
    return treated


def _proportion_shift(p1: float, p2: float, n_c: float, ratio: float, method: str) -> float:
    """``(p2 - p1) / se`` (unpooled, pooled) or ``h / se`` (Cohen) at ``n_c`` control users."""
    n_t = n_c * ratio
    if method == "cohen_h":
        effect = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
        return effect / math.sqrt(1 / n_c + 1 / n_t)
    return (p2 - p1) / math.sqrt(p1 * (1 - p1) / n_c + p2 * (1 - p2) / n_t)


def _proportion_scale(p1: float, p2: float, ratio: float, method: str) -> float:
    """``se0 / se1`` of the pooled test (independent of ``n_c``); 1 for the other methods."""
    if method != "pooled":
        return 1.0
    pooled = (p1 + ratio * p2) / (1 + ratio)
    null = pooled * (1 - pooled) * (1 + 1 / ratio)
    alt = p1 * (1 - p1) + p2 * (1 - p2) / ratio
    return math.sqrt(null / alt)


def _proportion_power(
    p1: float, p2: float, n_c: float, ratio: float, alpha: float, alternative: str, method: str
) -> float:
    shift = _proportion_shift(p1, p2, n_c, ratio, method)
    scale = _proportion_scale(p1, p2, ratio, method)
    return float(_normal_power(shift, alpha, alternative, scale))


def _proportion_args(alternative: str, ratio: float, method: str) -> tuple[str, float, str]:
    return (
        check_alternative(alternative),
        check_positive("ratio", ratio),
        check_choice("method", method, PROPORTION_METHODS),
    )


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str = "unpooled",
) -> SampleSize:
    """Users per group to detect a change of a rate from ``baseline`` by ``mde``.

    Reference: baseline 0.05, relative MDE 0.05, two-sided alpha 0.05, power 0.8 ->
    122,121 per group unpooled, 122,107 with ``method="cohen_h"``.
    """
    alpha, power = check_alpha_power(alpha, power)
    alternative, ratio, method = _proportion_args(alternative, ratio, method)
    p2 = _treatment_rate(baseline, mde, relative)
    p1 = float(baseline)
    _check_direction(p2 - p1, alternative)

    def power_at(n_c: float) -> float:
        return _proportion_power(p1, p2, n_c, ratio, alpha, alternative, method)

    if p2 == p1:
        raise ValueError("mde: too small to change the baseline at floating-point precision")
    unit_shift = _proportion_shift(p1, p2, 1.0, ratio, method)
    unit_shift /= _proportion_scale(p1, p2, ratio, method)
    start = _start_size(_z(alpha, power, alternative), unit_shift)
    return _sample_size(_solve_size(power_at, power, start, 1e-9), ratio)


def power_proportions(
    baseline: float,
    mde: float,
    n_control: int,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str = "unpooled",
) -> float:
    """Power reached with ``n_control`` control users (and ``ratio * n_control`` treated)."""
    alpha = check_unit_open("alpha", alpha)
    alternative, ratio, method = _proportion_args(alternative, ratio, method)
    n_control = check_count("n_control", n_control, minimum=1)
    p2 = _treatment_rate(baseline, mde, relative)
    return _proportion_power(float(baseline), p2, n_control, ratio, alpha, alternative, method)


def mde_proportions(
    n_control: int,
    baseline: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str = "unpooled",
) -> MinimumDetectableEffect:
    """Smallest change of the rate detectable with ``n_control`` control users.

    The effect is an increase, except for ``alternative="smaller"`` where it is a decrease.
    """
    alpha, power = check_alpha_power(alpha, power)
    alternative, ratio, method = _proportion_args(alternative, ratio, method)
    n_control = check_count("n_control", n_control, minimum=1)
    p1 = check_unit_open("baseline", baseline)
    sign = -1.0 if alternative == "smaller" else 1.0
    room = p1 if sign < 0 else 1 - p1

    def gap(delta: float) -> float:
        p2 = p1 + sign * delta
        return _proportion_power(p1, p2, n_control, ratio, alpha, alternative, method) - power

    high = room * (1 - 1e-12)
    if gap(high) < 0:
        raise ValueError("n_control: too small to detect any change of this rate at this power")
    delta = optimize.brentq(gap, room * 1e-12, high, xtol=1e-15, rtol=1e-14)
    return MinimumDetectableEffect(sign * delta, sign * delta / p1, p1)


# --- means ---------------------------------------------------------------------------------


def _means_power_at(
    d: float, n_c: float, ratio: float, alpha: float, alternative: str, method: str
) -> float:
    n_t = n_c * ratio
    shift = d / math.sqrt(1 / n_c + 1 / n_t)
    if method == "z":
        return float(_normal_power(shift, alpha, alternative))
    return _t_power(shift, n_c + n_t - 2, alpha, alternative)


def _means_args(std: float, alternative: str, ratio: float, method: str) -> tuple:
    return (
        check_positive("std", std),
        check_alternative(alternative),
        check_positive("ratio", ratio),
        check_choice("method", method, MEAN_METHODS),
    )


def sample_size_means(
    std: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str = "t",
) -> SampleSize:
    """Users per group to detect a shift ``mde`` (metric units) of a mean with std ``std``.

    ``method="t"`` matches statsmodels' ``tt_ind_solve_power(effect_size=mde/std, ...)``.
    """
    alpha, power = check_alpha_power(alpha, power)
    std, alternative, ratio, method = _means_args(std, alternative, ratio, method)
    mde = check_real("mde", mde)
    if mde == 0:
        raise ValueError("mde: must not be zero")
    _check_direction(mde, alternative)
    d = mde / std

    def power_at(n_c: float) -> float:
        return _means_power_at(d, n_c, ratio, alpha, alternative, method)

    start = _start_size(_z(alpha, power, alternative), d / math.sqrt(1 + 1 / ratio))
    # The t-test needs at least one degree of freedom: n_c (1 + ratio) - 2 >= 1.
    low = 3 / (1 + ratio) if method == "t" else 1e-9
    return _sample_size(_solve_size(power_at, power, max(start, low), low), ratio)


def power_means(
    std: float,
    mde: float,
    n_control: int,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str = "t",
) -> float:
    """Power of Welch's/Student's test for a shift ``mde`` with ``n_control`` control users."""
    alpha = check_unit_open("alpha", alpha)
    std, alternative, ratio, method = _means_args(std, alternative, ratio, method)
    mde = check_real("mde", mde)
    n_control = check_count("n_control", n_control, minimum=2 if method == "t" else 1)
    return _means_power_at(mde / std, n_control, ratio, alpha, alternative, method)


def mde_means(
    n_control: int,
    std: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    method: str = "t",
    baseline: float | None = None,
) -> MinimumDetectableEffect:
    """Smallest shift of a mean detectable with ``n_control`` users (``baseline``: its mean)."""
    alpha, power = check_alpha_power(alpha, power)
    std, alternative, ratio, method = _means_args(std, alternative, ratio, method)
    n_control = check_count("n_control", n_control, minimum=2 if method == "t" else 1)
    sign = -1.0 if alternative == "smaller" else 1.0

    def gap(d: float) -> float:
        return _means_power_at(sign * d, n_control, ratio, alpha, alternative, method) - power

    high = 1.0
    while gap(high) < 0:
        high *= 2
    d = optimize.brentq(gap, 1e-12, high, xtol=1e-15, rtol=1e-14)
    absolute = sign * d * std
    relative = absolute / baseline if baseline else math.nan
    return MinimumDetectableEffect(absolute, relative, math.nan if baseline is None else baseline)


# --- runtime -------------------------------------------------------------------------------


def runtime_days(
    sample_size: SampleSize | int, daily_users: float, traffic_share: float = 1.0
) -> int:
    """Whole days until ``sample_size`` users (total over groups) have entered.

    ``days = ceil(total / (daily_users * traffic_share))`` where ``daily_users`` is the number
    of new eligible users a day and ``traffic_share`` (0, 1] the fraction of them enrolled.
    """
    total = sample_size.total if isinstance(sample_size, SampleSize) else sample_size
    total = check_count("sample_size", total, minimum=1)
    daily_users = check_positive("daily_users", daily_users)
    share = check_positive("traffic_share", traffic_share)
    if share > 1:
        raise ValueError(f"traffic_share: must be at most 1, got {share}")
    days = total / (daily_users * share)
    if not days < 1e9:  # also catches inf from a vanishing daily_users * share
        raise ValueError(f"daily_users: {daily_users} a day would take over a billion days")
    return max(1, math.ceil(days * (1 - 1e-12)))
