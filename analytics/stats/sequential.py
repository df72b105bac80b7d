"""Always-valid inference: p-values and confidence sequences that survive daily peeking.

Both methods use the normal-mixture martingale. For an effect estimate ``d`` with variance
``V`` (``V = s_c^2/n_c + s_t^2/n_t``) and a mixing variance ``tau^2`` over effects, the mixture
likelihood ratio against ``H0: effect = 0`` is (Johari, Pekelis & Walsh, "Always valid
inference", Operations Research 2022, eq. 11)::

    L = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

The always-valid p-value is ``min(1, 1/L)`` at one look and its running minimum over looks;
the confidence sequence, inverting the same test, is::

    d -+ sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))

intersected over looks. Both are two-sided and hold at every look with probability
``1 - alpha`` (Ville's inequality).

* ``method="msprt"``: a fixed ``mixing_sd = tau`` in the effect's units (e.g. the typical
  size of real effects from past experiments).
* ``method="asymptotic"`` (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform
  central limit theory and asymptotic confidence sequences", Ann. Statist. 2024, Thm. 2.2):
  ``tau^2 = V t rho^2`` with ``t`` the users so far and
  ``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / t*``, which makes the sequence tightest
  at ``t* = planned_total`` users. The two formulas coincide under that substitution; the
  asymptotic form needs no effect-scale prior, only the planned size (default 5,000, the
  tuning default of GrowthBook).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from analytics.stats._inference import Array
from analytics.stats._validation import (
    check_alternative,
    check_choice,
    check_count,
    check_positive,
    check_real,
    check_unit_open,
)

METHODS = ("asymptotic", "msprt")
DEFAULT_PLANNED_TOTAL = 5000
# Planned looks: a daily read for a month. The plan's numerical integration grows with the
# looks (about 1.7 s at 30, 8.5 s at 100 on this project's 2 cores), while the size barely
# moves: 30 looks need 1.72 times the fixed-horizon users, 100 looks 1.68. Planning 30 for
# more frequent reads is therefore slightly conservative (a little more power than asked).
MAX_LOOKS = 30


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid p-value and confidence sequence of the absolute effect at one look."""

    p_value: float
    ci: tuple[float, float]
    method: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value: must lie in [0, 1], got {self.p_value}")
        if self.ci[0] > self.ci[1]:
            raise ValueError("ci: lower bound above upper bound")


def mixing_variance(
    variance: Array,
    n_total: Array,
    *,
    alpha: float,
    method: str,
    planned_total: int | None,
    mixing_sd: float | None,
) -> np.ndarray:
    """``tau^2`` for each look (arrays broadcast), by ``method``."""
    variance = np.asarray(variance, dtype=float)
    if method == "msprt":
        if mixing_sd is None:
            raise ValueError("mixing_sd: required for method='msprt' (effect units)")
        sd = check_positive("mixing_sd", mixing_sd)
        if sd > 1e150:  # its square would overflow
            raise ValueError(f"mixing_sd: must be at most 1e150, got {sd}")
        return np.full_like(np.asarray(variance, dtype=float), sd**2)
    planned = check_count(
        "planned_total",
        DEFAULT_PLANNED_TOTAL if planned_total is None else planned_total,
        minimum=1,
    )
    log_term = -2 * math.log(alpha)
    rho2 = (log_term + math.log(log_term + 1)) / planned
    return variance * n_total * rho2


def check_looks(looks: object) -> int:
    """A number of planned looks: a whole number from 1 to ``MAX_LOOKS``."""
    count = check_count("looks", looks, minimum=1)
    if count > MAX_LOOKS:
        raise ValueError(
            f"looks: must be at most {MAX_LOOKS}; for more frequent reads plan {MAX_LOOKS} "
            f"(slightly conservative: more looks need at most a few % fewer users), got {count}"
        )
    return count


def final_look_critical(alpha: float) -> float:
    """The |z| the asymptotic confidence sequence needs to reject at its tuning size ``t*``.

    At ``t = t*`` the mixing variance is ``tau^2 = k V`` with ``k = -2 log alpha +
    log(-2 log alpha + 1)`` (``mixing_variance``), so ``L >= 1/alpha`` reads
    ``z^2 >= (1 + k) / k * (2 log(1/alpha) + log(1 + k))``, free of ``V``: the sequential test
    at its planned size is a z-test with this critical value (3.03 at alpha 0.05, against
    1.96 for a fixed horizon). Earlier looks can only add rejections, so a size planned with
    it is a lower bound on the sequential test's power.
    """
    alpha = check_unit_open("alpha", alpha)
    log_term = -2 * math.log(alpha)
    k = log_term + math.log(log_term + 1)
    return math.sqrt((1 + k) / k * (2 * math.log(1 / alpha) + math.log(1 + k)))


def fixed_horizon_equivalent_alpha(
    alpha: float, looks: int = 1, power: float = 0.8, alternative: str = "two-sided"
) -> float:
    """Alpha at which a fixed-horizon z plan sizes the sequential one (two-sided, or
    one-sided for a one-sided ``alternative``: a fixed one-sided plan at the returned alpha).

    One look (the report read once, at the planned size): ``2 Phi(-c)`` with
    ``c = final_look_critical(alpha)``, whatever the power (``Phi(-c)`` one-sided: the
    one-sided sequential test rejects on its side of the same two-sided boundary). ``looks``
    equally spaced reads (the last at the planned size) can each reject, so the plan needs
    less: the alpha whose fixed plan has the drift ``sequential_drift(alpha, power, looks)``,
    i.e. ``2 Phi(-(drift - z_power))`` (one-sided ``Phi(-(drift - z_power))``); exact at
    ``power``, the equivalent fixed test's power curve approximates the sequential one's
    elsewhere.
    """
    looks = check_looks(looks)
    sides = 1 if check_alternative(alternative) != "two-sided" else 2
    if looks == 1:
        return float(sides * special.ndtr(-final_look_critical(alpha)))
    drift = sequential_drift(alpha, power, looks, alternative)
    return float(sides * special.ndtr(-(drift - float(special.ndtri(power)))))


def _boundary(fraction: np.ndarray, alpha: float) -> np.ndarray:
    """|z| at which the asymptotic sequence tuned to ``t*`` rejects at ``t = fraction * t*``
    (``r = tau^2 / V = fraction * k``; at fraction 1 this is ``final_look_critical``)."""
    log_term = -2 * math.log(alpha)
    r = fraction * (log_term + math.log(log_term + 1))
    return np.sqrt((1 + r) / r * (2 * math.log(1 / alpha) + np.log1p(r)))


def sequential_power(
    drift: float,
    looks: int,
    alpha: float = 0.05,
    grid_step: float = 0.01,
    alternative: str = "two-sided",
) -> float:
    """P(the asymptotic always-valid test rejects at one of ``looks`` equally spaced looks,
    the last at its tuning size ``t*``), when the z-statistic at ``t*`` has mean ``drift``.

    With information proportional to users, the score ``S(f) = z_f sqrt(f)`` at the fraction
    ``f = t / t*`` is a Brownian motion with drift ``drift * f`` observed at ``f = i / looks``;
    look ``i`` rejects when ``|S| >= sqrt(f) b(f)`` (``b`` the always-valid critical |z| at
    that look, from ``mixing_variance``). The crossing probability is computed by recursive
    numerical integration of the density of ``S`` over the continuation region (Armitage,
    McPherson & Rowe, "Repeated significance tests on accumulating data", JRSS A 1969;
    Jennison & Turnbull, "Group Sequential Methods", 2000, ch. 19), trapezoid rule on a grid
    of about ``grid_step``. One look gives ``Phi(drift - c) + Phi(-drift - c)`` with
    ``c = final_look_critical(alpha)``.

    A one-sided ``alternative`` (the test of ``analysis._one_sided``: the same boundary, a
    rejection on its side only) continues on the other side, so its continuation region is
    the half-line ``S < sqrt(f) b(f)`` (``larger``; mirrored for ``smaller``), integrated down
    to 8 standard deviations below the lower of ``-sqrt(f) b(f)`` and the drift; one look
    gives ``Phi(drift - c)`` (``Phi(-drift - c)`` for ``smaller``).
    """
    drift = check_real("drift", drift)
    looks = check_looks(looks)
    alpha = check_unit_open("alpha", alpha)
    grid_step = check_positive("grid_step", grid_step)
    alternative = check_alternative(alternative)
    if alternative == "smaller":  # the mirror image of "larger"
        drift, alternative = -drift, "larger"
    fractions = np.arange(1, looks + 1) / looks
    limits = np.sqrt(fractions) * _boundary(fractions, alpha)
    # Each look's grid spans its continuation region exactly, so the trapezoid rule's error
    # is O(grid_step^2) rather than a cell at the edge.
    previous, grid, density, weights = 0.0, np.zeros(1), np.ones(1), np.ones(1)
    for f, limit in zip(fractions, limits, strict=True):
        width, mean = f - previous, drift * (f - previous)
        bottom = -limit
        if alternative == "larger":
            bottom = min(-limit, drift * f) - 8 * math.sqrt(f)
        points = np.linspace(bottom, limit, int(math.ceil((limit - bottom) / grid_step)) + 1)
        jump = points[:, None] - grid[None, :] - mean
        kernel = np.exp(-(jump**2) / (2 * width)) / math.sqrt(2 * math.pi * width)
        density = kernel @ (density * weights)
        grid, previous = points, f
        weights = np.full(len(grid), grid[1] - grid[0])
        weights[[0, -1]] /= 2
    return float(np.clip(1.0 - density @ weights, 0.0, 1.0))


def sequential_drift(
    alpha: float, power: float, looks: int, alternative: str = "two-sided"
) -> float:
    """The drift (mean z at the tuning size, in the alternative's direction) at which
    ``sequential_power`` equals ``power``: a sequential plan read at ``looks`` equally spaced
    looks needs ``(drift / (z_{1-alpha/2} + z_power))^2`` times the users of a fixed-horizon
    two-sided test (``z_{1-alpha}`` for a one-sided one)."""
    alpha = check_unit_open("alpha", alpha)
    power = check_unit_open("power", power)
    sides = "two-sided" if check_alternative(alternative) == "two-sided" else "larger"
    return _solve_drift(alpha, power, check_looks(looks), sides)


# Cached: a planner page reloaded with the same inputs does not integrate again (seconds at
# many looks). Only validated floats and ints reach it.
@functools.lru_cache(maxsize=256)
def _solve_drift(alpha: float, power: float, looks: int, alternative: str) -> float:
    upper = final_look_critical(alpha) + float(special.ndtri(power)) + 1.0

    def gap(drift: float) -> float:
        return sequential_power(drift, looks, alpha, alternative=alternative) - power

    return float(optimize.brentq(gap, 0.0, upper))


def always_valid_arrays(
    effect: Array, variance: Array, tau2: Array, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p-value ``min(1, 1/L)`` and confidence-sequence bounds at single looks (vectorised).

    A zero variance (constant data) gives p = 1 for a zero effect, else 0, and a point
    sequence.
    """
    effect = np.asarray(effect, dtype=float)
    variance = np.asarray(variance, dtype=float)
    # In terms of r = tau^2 / V and z^2 = d^2 / V (stable for tiny and huge V):
    # log L = -log(1 + r) / 2 + r / (1 + r) * z^2 / 2, half = sqrt(V (1 + r) / r * (...)).
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        r = np.clip(np.where(variance > 0, tau2 / variance, 1.0), 1e-300, 1e300)
        r = np.where(np.isnan(r), 1.0, r)
        z2 = np.where(variance > 0, effect**2 / variance, 0.0)
        log_l = -0.5 * np.log1p(r) + r / (1 + r) * z2 / 2
        p = np.where(np.isnan(log_l), 1.0, np.minimum(1.0, np.exp(-log_l)))
        half = np.sqrt(variance) * np.sqrt((1 + r) / r * (2 * math.log(1 / alpha) + np.log1p(r)))
    degenerate = variance <= 0
    p = np.where(degenerate, np.where(effect == 0, 1.0, 0.0), p)
    half = np.where(degenerate, 0.0, half)
    return p, effect - half, effect + half


def _check(alpha: float, method: str) -> tuple[float, str]:
    return check_unit_open("alpha", alpha), check_choice("method", method, METHODS)


def always_valid_test(
    effect: float,
    variance: float,
    n_total: int,
    *,
    alpha: float = 0.05,
    method: str = "asymptotic",
    planned_total: int | None = None,
    mixing_sd: float | None = None,
) -> SequentialResult:
    """Always-valid p-value and confidence sequence at one look.

    ``effect``: treatment minus control; ``variance``: its variance ``V``; ``n_total``: users
    in both groups so far. Valid at any look taken alone; over a series of looks use
    ``always_valid_history`` (running minimum and intersection).
    """
    alpha, method = _check(alpha, method)
    effect = check_real("effect", effect)
    variance = check_real("variance", variance)
    if variance < 0:
        raise ValueError(f"variance: must be non-negative, got {variance}")
    n_total = check_count("n_total", n_total, minimum=1)
    tau2 = mixing_variance(
        np.float64(variance),
        np.float64(n_total),
        alpha=alpha,
        method=method,
        planned_total=planned_total,
        mixing_sd=mixing_sd,
    )
    p, lo, hi = always_valid_arrays(np.float64(effect), np.float64(variance), tau2, alpha)
    return SequentialResult(float(p), (float(lo), float(hi)), method)


@dataclass(frozen=True)
class SequentialHistory:
    """Per look: running-minimum p-values and the running intersection of the sequences."""

    p_values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str

    def __post_init__(self) -> None:
        if not (len(self.p_values) == len(self.lower) == len(self.upper)):
            raise ValueError("p_values: one per look, like lower and upper")


def always_valid_history(
    effects: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    n_totals: Sequence[int] | np.ndarray,
    *,
    alpha: float = 0.05,
    method: str = "asymptotic",
    planned_total: int | None = None,
    mixing_sd: float | None = None,
    alternative: str = "two-sided",
) -> SequentialHistory:
    """Always-valid results over looks in time order (e.g. one per day).

    A one-sided ``alternative`` (``larger``: treatment above control) rejects only on its
    side at each look (p = 1 on the other) and keeps the half-line of the sequence, as
    ``analyze_many`` does; conservative, since the mixture spends part of ``alpha`` on the
    other side.
    """
    alpha, method = _check(alpha, method)
    alternative = check_alternative(alternative)
    effects = np.asarray(effects, dtype=float)
    variances = np.asarray(variances, dtype=float)
    n_totals = np.asarray(n_totals, dtype=float)
    if not (effects.shape == variances.shape == n_totals.shape) or effects.ndim != 1:
        raise ValueError("variances: need one effect, variance and n_total per look")
    if not np.all(np.isfinite(effects)):
        raise ValueError("effects: must be finite")
    if not np.all(np.isfinite(variances)) or np.any(variances < 0):
        raise ValueError("variances: must be finite and non-negative")
    if not np.all(np.isfinite(n_totals)) or np.any(n_totals < 1):
        raise ValueError("n_totals: must be whole numbers >= 1")
    tau2 = mixing_variance(
        variances,
        n_totals,
        alpha=alpha,
        method=method,
        planned_total=planned_total,
        mixing_sd=mixing_sd,
    )
    p, lo, hi = always_valid_arrays(effects, variances, tau2, alpha)
    if alternative == "larger":
        p, hi = np.where(effects > 0, p, 1.0), np.full_like(hi, np.inf)
    elif alternative == "smaller":
        p, lo = np.where(effects < 0, p, 1.0), np.full_like(lo, -np.inf)
    lower = np.maximum.accumulate(lo)
    upper = np.minimum.accumulate(hi)
    # An empty intersection (possible under H1 with drift) collapses to the latest estimate.
    crossed = lower > upper
    lower = np.where(crossed, effects, lower)
    upper = np.where(crossed, effects, upper)
    return SequentialHistory(np.minimum.accumulate(p), lower, upper, method)
