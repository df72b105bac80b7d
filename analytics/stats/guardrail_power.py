"""Guardrail power: users needed to show non-inferiority within a margin.

The guardrail test (``frequentist.noninferiority_test``) rejects "harm of at least the
margin" when ``gap = m_t - a m_c - b`` lies ``crit`` standard errors on the good side of 0,
with ``a = 1 + s margin, b = 0`` for a relative margin or ``a = 1, b = s margin`` for an
absolute one (``s = +1`` when a rise is bad, ``-1`` when a fall is). Planning for no true
effect (``m_t = m_c = mu``), the expected gap is ``-s margin mu`` (relative) or ``-s margin``
(absolute) and its standard error at ``n_c`` control users is
``sqrt(sigma^2 / (ratio n_c) + a^2 sigma^2 / n_c)`` with ``sigma^2 = mu (1 - mu)`` for a rate,
so (Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*, 2008, sec. 4.2;
Blackwelder, Control. Clin. Trials 1982)::

    power = Phi(|gap| / se(n_c) - crit),   n_c = (crit + z_power)^2 sigma^2 (1/ratio + a^2) / gap^2

``crit`` is ``z_{1-alpha}`` for the fixed-horizon test, and for the always-valid guardrail of
a sequential experiment the final-look critical value of its confidence sequence
(``sequential.final_look_critical``), which the test at its planned size needs.
"""

from __future__ import annotations

import math

from scipy import special

from analytics.stats._validation import (
    check_alpha_power,
    check_choice,
    check_count,
    check_positive,
    check_real,
    check_unit_open,
)
from analytics.stats.power import SampleSize, _sample_size
from analytics.stats.sequential import final_look_critical


def _setup(
    kind: str, baseline: float, std: float | None, margin: float, margin_relative: bool,
    bad_direction: str, ratio: float,
) -> tuple[float, float, float]:  # fmt: skip
    """``(gap, per-user variance, a)`` of the planning case."""
    kind = check_choice("kind", kind, ("proportion", "mean"))
    sign = 1.0 if check_choice("bad_direction", bad_direction, ("increase", "decrease")) == (
        "increase"
    ) else -1.0  # fmt: skip
    margin = check_positive("margin", margin)
    check_positive("ratio", ratio)
    if kind == "proportion":
        mu = check_unit_open("baseline", baseline)
        variance = mu * (1 - mu)
    else:
        mu = check_real("baseline", baseline)
        variance = check_positive("std", std) ** 2 if std is not None else math.nan
        if math.isnan(variance):
            raise ValueError("std: required for a mean guardrail")
    if margin_relative:
        if mu == 0:
            raise ValueError("baseline: a relative margin needs a non-zero baseline")
        a, gap = 1 + sign * margin, -sign * margin * mu
        if a <= 0:
            raise ValueError("margin: a relative margin for a fall must be below 1")
    else:
        a, gap = 1.0, -sign * margin
    return gap, variance, a


def _critical(alpha: float, sequential: bool) -> float:
    return final_look_critical(alpha) if sequential else float(special.ndtri(1 - alpha))


def sample_size_noninferiority(
    kind: str,
    baseline: float,
    margin: float,
    *,
    std: float | None = None,
    margin_relative: bool = True,
    bad_direction: str = "increase",
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sequential: bool = False,
) -> SampleSize:
    """Users per group for a guardrail to show non-inferiority within ``margin`` at
    ``power`` when the treatment truly changes nothing (formula in the module docstring)."""
    alpha, power = check_alpha_power(alpha, power)
    gap, variance, a = _setup(kind, baseline, std, margin, margin_relative, bad_direction, ratio)
    z = _critical(alpha, sequential) + float(special.ndtri(power))
    control = z**2 * variance * (1 / ratio + a**2) / gap**2
    if not control < 1e15:
        raise ValueError("margin: too small to be shown with any realistic sample size")
    return _sample_size(control, ratio)


def power_noninferiority(
    kind: str,
    baseline: float,
    margin: float,
    n_control: int,
    *,
    std: float | None = None,
    margin_relative: bool = True,
    bad_direction: str = "increase",
    alpha: float = 0.05,
    ratio: float = 1.0,
    sequential: bool = False,
) -> float:
    """Power of the guardrail test with ``n_control`` control users (``ratio`` times as
    many treated) when the treatment truly changes nothing."""
    alpha = check_unit_open("alpha", alpha)
    n_control = check_count("n_control", n_control, minimum=1)
    gap, variance, a = _setup(kind, baseline, std, margin, margin_relative, bad_direction, ratio)
    se = math.sqrt(variance * (1 / (ratio * n_control) + a**2 / n_control))
    return float(special.ndtr(abs(gap) / se - _critical(alpha, sequential)))
