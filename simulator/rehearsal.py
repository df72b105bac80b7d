"""Rehearse an experiment before running it: how long it takes and how often it finds the effect.

Given a population, a planted effect and a traffic rate (new users a day), each replicate
plays a fresh sample of users: user ``u`` arrives on a uniform day of the run, has its first
session then and ``Poisson(sessions_per_day * remaining days)`` more, each user is put in
control or treatment with probability 1/2, and both arms play the same sessions (common
random numbers). At the end of every day the cumulative CTR sums of each arm are analysed by
the platform itself (``analyze``, e.g. ``POST /api/v1/stats/analyze`` through the API: the
simulator never imports the statistics engine), and the effect counts as found when the
p-value is below ``alpha`` with the planted sign. The answer is, per day, the share of
replicates that found it: the first day at which that reaches the target power is how long
the experiment should run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.behaviour import NO_EFFECT, BehaviourModel, Effect, SessionNoise
from simulator.population import Population
from simulator.traffic import Policy, Traffic, UserTotals, fresh_users, popular_policy, user_totals

Analyze = Callable[[dict], dict]  # an /api/v1/stats/analyze request body -> its answer


@dataclass(frozen=True)
class RehearsalDay:
    day: int
    exposed_users: float  # mean over replicates
    detection_rate: float


def arriving_traffic(
    pop: Population, *, days: int, k: int, policy: Policy, rng: np.random.Generator
) -> Traffic:
    """Sessions of users arriving uniformly over ``days`` (first session on arrival)."""
    arrival = rng.random(pop.n_users) * days
    more = rng.poisson(pop.sessions_per_day * (days - arrival))
    users = np.concatenate([np.arange(pop.n_users), np.repeat(np.arange(pop.n_users), more)])
    later = arrival[users[pop.n_users :]]
    session_days = np.concatenate([arrival, later + rng.random(len(later)) * (days - later)])
    return Traffic(
        user_lists=policy(pop, np.arange(pop.n_users), k, rng),
        session_users=users,
        session_days=session_days,
        noise=SessionNoise.draw(len(users), k, rng),
        pre_session_users=np.zeros(0, dtype=np.int64),
        pre_noise=SessionNoise.draw(0, k, rng),
    )


def ratio_sums(totals: UserTotals, mask: np.ndarray) -> dict[str, float]:
    """CTR's sufficient statistics over the exposed users of ``mask`` (the rollup's sums)."""
    exposed = mask & (totals.sessions > 0)
    x, y = totals.clicks[exposed], totals.impressions[exposed]
    return {
        "n": int(exposed.sum()),
        "sum_x": float(x.sum()),
        "sum_x2": float((x * x).sum()),
        "sum_y": float(y.sum()),
        "sum_y2": float((y * y).sum()),
        "sum_xy": float((x * y).sum()),
    }


def rehearse(
    analyze: Analyze,
    pop: Population,
    model: BehaviourModel,
    effect: Effect,
    *,
    users_per_day: int,
    days: int,
    replicates: int,
    rng: np.random.Generator,
    k: int = 10,
    policy: Policy = popular_policy,
    alpha: float = 0.05,
) -> list[RehearsalDay]:
    """Detection rate of the planted CTR effect at the end of each day (see the module)."""
    if users_per_day < 2 or days < 1 or replicates < 1:
        raise ValueError("users-per-day: need >= 2 users a day, >= 1 day and >= 1 replicate")
    found = np.zeros(days)
    exposed = np.zeros(days)
    sign = np.sign(effect.attraction) or 1.0
    for r in range(replicates):
        users = fresh_users(pop, users_per_day * days, rng, f"rehearsal{r}")
        traffic = arriving_traffic(users, days=days, k=k, policy=policy, rng=rng)
        treated = rng.random(users.n_users) < 0.5
        for day in range(1, days + 1):
            control = user_totals(users, model, traffic, NO_EFFECT, until_day=float(day))
            treatment = user_totals(users, model, traffic, effect, until_day=float(day))
            c, t = ratio_sums(control, ~treated), ratio_sums(treatment, treated)
            exposed[day - 1] += c["n"] + t["n"]
            if min(c["n"], t["n"]) < 2 or not c["sum_y"] or not t["sum_y"]:
                continue
            body = {"kind": "ratio", "control": c, "treatment": t, "alpha": alpha}
            answer = analyze({**body, "cuped": False, "bayesian": False})
            if answer["p_value"] < alpha and np.sign(answer["absolute_effect"]) == sign:
                found[day - 1] += 1
    return [
        RehearsalDay(day + 1, exposed[day] / replicates, found[day] / replicates)
        for day in range(days)
    ]
