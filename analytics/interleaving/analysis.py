"""Analysis of an interleaving experiment from its per-user credit table.

Preference (Chapelle, Joachims, Radlinski and Yue 2012, "Large-scale validation and analysis
of interleaved search evaluation", with users instead of queries as the unit, as Netflix's
interleaving does): a user *favours* team ``a`` when the clicks credited to ``a`` exceed
those credited to ``b``. Users without a credited click carry no preference and are left out;
users with equal non-zero credit are ties.

- ``preference_a = (wins_a + ties / 2) / (wins_a + wins_b + ties)``; 0.5 means no preference.
- Sign test: ties dropped, ``wins_a ~ Binomial(wins_a + wins_b, 1/2)`` under the null, exact
  two-sided p-value (scipy's ``binomtest``).
- Interval: Wilson score interval for ``wins_a / (wins_a + wins_b)``, the share the sign test
  is about (statsmodels ``proportion_confint(method="wilson")``).

Paired credit difference: ``theta = sum_u (c_ua - c_ub) / sum_u n_u`` (credited clicks per
impression), whose standard error clusters the impressions by user with the delta method for
a ratio of means: ``Var = (s_D^2 - 2 theta s_DN + theta^2 s_N^2) / (U * mean(N)^2)``
(Deng, Lu and Litz 2017, "Trustworthy analysis of online A/B tests").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analytics.interleaving.credit import CreditTable
from analytics.stats._validation import check_count, check_unit_open


@dataclass(frozen=True)
class PreferenceResult:
    """Which of two teams the users' clicks favour. ``winner`` is the team index the sign
    test prefers at ``alpha``, or ``None``."""

    team_a: int
    team_b: int
    wins_a: int
    wins_b: int
    ties: int
    users_without_clicks: int
    preference_a: float
    decisive_share_a: float
    ci: tuple[float, float]
    p_value: float
    alpha: float
    interval_method: str = "Wilson score interval for wins_a / (wins_a + wins_b)"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value: must lie in [0, 1], got {self.p_value}")

    @property
    def winner(self) -> int | None:
        if self.p_value >= self.alpha or self.wins_a == self.wins_b:
            return None
        return self.team_a if self.wins_a > self.wins_b else self.team_b


@dataclass(frozen=True)
class CreditDifference:
    """Credited clicks per impression of each team, their difference ``a - b`` with a
    user-clustered normal interval, and the two-sided z-test of no difference."""

    per_impression_a: float
    per_impression_b: float
    difference: float
    std_error: float
    ci: tuple[float, float]
    p_value: float
    users: int
    impressions: int
    interval_method: str = "normal, delta method clustered by user"


def _check_teams(table: CreditTable, team_a: int, team_b: int) -> tuple[int, int]:
    if not isinstance(table, CreditTable):
        raise ValueError("table: must be a CreditTable")
    team_a = check_count("team_a", team_a)
    team_b = check_count("team_b", team_b)
    for name, team in (("team_a", team_a), ("team_b", team_b)):
        if team >= table.n_teams:
            raise ValueError(f"{name}: the table has only {table.n_teams} teams, got {team}")
    if team_a == team_b:
        raise ValueError("team_b: must differ from team_a")
    return team_a, team_b


def wilson_interval(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """Wilson score interval ``(p + z^2/2n +- z sqrt(p q / n + z^2/4n^2)) / (1 + z^2/n)``;
    ``(0, 1)`` without trials."""
    if trials == 0:
        return (0.0, 1.0)
    z = float(stats.norm.isf(alpha / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    return (max(0.0, centre - half), min(1.0, centre + half))


def preference_test(
    table: CreditTable, *, team_a: int = 0, team_b: int = 1, alpha: float = 0.05
) -> PreferenceResult:
    """Users' preference between ``team_a`` and ``team_b`` (see the module docstring)."""
    team_a, team_b = _check_teams(table, team_a, team_b)
    alpha = check_unit_open("alpha", alpha)
    a, b = table.clicks[:, team_a], table.clicks[:, team_b]
    wins_a, wins_b = int(np.sum(a > b)), int(np.sum(b > a))
    ties = int(np.sum((a == b) & (a > 0)))
    silent = len(a) - wins_a - wins_b - ties
    decided = wins_a + wins_b
    voters = decided + ties
    p_value = float(stats.binomtest(wins_a, decided, 0.5).pvalue) if decided else 1.0
    return PreferenceResult(
        team_a=team_a,
        team_b=team_b,
        wins_a=wins_a,
        wins_b=wins_b,
        ties=ties,
        users_without_clicks=silent,
        preference_a=(wins_a + ties / 2) / voters if voters else math.nan,
        decisive_share_a=wins_a / decided if decided else math.nan,
        ci=wilson_interval(wins_a, decided, alpha),
        p_value=min(1.0, p_value),
        alpha=alpha,
    )


def credit_difference(
    table: CreditTable, *, team_a: int = 0, team_b: int = 1, alpha: float = 0.05
) -> CreditDifference:
    """Paired per-impression credit difference ``a - b`` with a user-clustered interval."""
    team_a, team_b = _check_teams(table, team_a, team_b)
    alpha = check_unit_open("alpha", alpha)
    users = len(table.users)
    if users < 2:
        raise ValueError(f"table: at least 2 users are needed, got {users}")
    n = table.impressions
    if np.sum(n) <= 0:
        raise ValueError("table: no impressions counted for analysis")
    d = table.clicks[:, team_a] - table.clicks[:, team_b]
    mean_n = float(np.mean(n))
    theta = float(np.sum(d) / np.sum(n))
    cov = np.cov(np.vstack([d, n]), ddof=1)
    variance = (cov[0, 0] - 2 * theta * cov[0, 1] + theta**2 * cov[1, 1]) / (users * mean_n**2)
    se = math.sqrt(max(float(variance), 0.0))
    z = float(stats.norm.isf(alpha / 2))
    # se == 0: every user differs by the same amount, certain unless that amount is 0
    p_value = float(2 * stats.norm.sf(abs(theta) / se)) if se > 0 else float(theta == 0)
    return CreditDifference(
        per_impression_a=float(np.sum(table.clicks[:, team_a]) / np.sum(n)),
        per_impression_b=float(np.sum(table.clicks[:, team_b]) / np.sum(n)),
        difference=theta,
        std_error=se,
        ci=(theta - z * se, theta + z * se),
        p_value=min(1.0, p_value),
        users=users,
        impressions=int(np.sum(n)),
    )


def position_credit(table: CreditTable) -> np.ndarray:
    """Click rate of each team at each draft position: ``position_clicks / position_shown``,
    shape (positions, teams); NaN where a team never held a position."""
    if not isinstance(table, CreditTable):
        raise ValueError("table: must be a CreditTable")
    shown = table.position_shown
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown > 0, table.position_clicks / np.where(shown > 0, shown, 1), np.nan)
