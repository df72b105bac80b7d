"""Sample size and runtime of an interleaving experiment, from a stated preference rate or a
pilot's credit table.

The preference test is a sign test on the users who prefer one team (``decisive`` users).
With ``pi`` the share of decisive users who favour the better team, the normal approximation
to the binomial gives the decisive users needed for power ``1 - beta`` at two-sided ``alpha``:

    n_decisive = ((z_{1-alpha/2} * 0.5 + z_{1-beta} * sqrt(pi (1 - pi))) / (pi - 0.5))^2

(Chow, Shao and Wang, "Sample Size Calculations in Clinical Research", one-sample
proportion, section 4.1). The exact binomial test that ``preference_test`` runs is slightly
conservative: at the planned size its power is 0.79 for ``pi`` = 0.52 to 0.55 and 0.76 for
``pi = 0.6`` (194 decisive users) when 0.8 is asked. Only a share ``d`` of exposed users is
decisive (the rest do not click, or tie), so ``users = n_decisive / d``;
``days = users / (daily_users * coverage)``.

The paired credit difference (``credit_difference``) is a z-test of ``theta``, the credited
clicks per impression of one team less the other's, whose user-clustered variance is
``sigma^2 / U`` with ``sigma`` the standard deviation of a user's linearised difference
(``std_error * sqrt(users)`` of a pilot). Users needed, one-sample normal formula:

    users = ((z_{1-alpha/2} + z_{1-beta}) * sigma / theta)^2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from analytics.interleaving.analysis import preference_test
from analytics.interleaving.credit import CreditTable
from analytics.stats._validation import (
    check_alpha_power,
    check_positive,
    check_real,
    check_unit_open,
)
from analytics.stats.power import runtime_days


@dataclass(frozen=True)
class InterleavingPlan:
    """Users an interleaving experiment needs. ``days`` is ``None`` without a traffic
    figure."""

    preference_rate: float
    decisive_share: float
    decisive_users: int
    users: int
    alpha: float
    power: float
    days: int | None = None


def decisive_users_needed(preference_rate: float, *, alpha: float, power: float) -> float:
    """Unrounded decisive users for the sign test (module docstring)."""
    pi = check_unit_open("preference_rate", preference_rate)
    if pi == 0.5:
        raise ValueError("preference_rate: 0.5 means no preference, which no sample detects")
    alpha, power = check_alpha_power(alpha, power)
    z_alpha, z_beta = stats.norm.isf(alpha / 2), stats.norm.isf(1 - power)
    root = z_alpha * 0.5 + z_beta * math.sqrt(pi * (1 - pi))
    return float((root / (pi - 0.5)) ** 2)


def credit_difference_users_needed(
    difference: float, std_per_user: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users for the paired credit difference to detect ``difference`` (credited clicks per
    impression) when a user's linearised difference has standard deviation ``std_per_user``
    (module docstring)."""
    theta = check_real("difference", difference)
    if theta == 0:
        raise ValueError("difference: 0 means no difference, which no sample detects")
    sigma = check_positive("std_per_user", std_per_user)
    alpha, power = check_alpha_power(alpha, power)
    z_sum = stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)
    return math.ceil((z_sum * sigma / theta) ** 2 * (1 - 1e-12))


def plan_interleaving(
    preference_rate: float,
    decisive_share: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    daily_users: float | None = None,
    coverage: float = 1.0,
) -> InterleavingPlan:
    """Users (and days) to detect ``preference_rate`` among decisive users when a share
    ``decisive_share`` of exposed users is decisive."""
    share = check_unit_open("decisive_share", decisive_share) if decisive_share != 1 else 1.0
    exact = decisive_users_needed(preference_rate, alpha=alpha, power=power)
    decisive = math.ceil(exact * (1 - 1e-12))
    users = math.ceil(exact / share * (1 - 1e-12))
    days = None
    if daily_users is not None:
        check_positive("daily_users", daily_users)
        days = runtime_days(users, daily_users, coverage)
    return InterleavingPlan(
        preference_rate=float(preference_rate),
        decisive_share=share,
        decisive_users=decisive,
        users=users,
        alpha=alpha,
        power=power,
        days=days,
    )


def plan_from_pilot(
    table: CreditTable,
    *,
    team_a: int = 0,
    team_b: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
    daily_users: float | None = None,
    coverage: float = 1.0,
) -> InterleavingPlan:
    """The plan for the preference a pilot observed: ``pi`` is the pilot's share of decisive
    users favouring the team ahead, ``d`` its share of decisive users among all users."""
    result = preference_test(table, team_a=team_a, team_b=team_b, alpha=alpha)
    decided = result.wins_a + result.wins_b
    if decided == 0 or result.wins_a == result.wins_b:
        raise ValueError("table: the pilot shows no preference to plan for")
    pi = max(result.wins_a, result.wins_b) / decided
    if pi == 1.0:
        raise ValueError("table: every decisive pilot user favours one team; run a larger pilot")
    users = len(table.users)
    return plan_interleaving(
        pi,
        decided / users,
        alpha=alpha,
        power=power,
        daily_users=daily_users,
        coverage=coverage,
    )
