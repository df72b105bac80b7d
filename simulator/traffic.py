"""Whole experiments in process: sessions over simulated days, per-user totals, true effects.

A user ``u`` has ``Poisson(sessions_per_day[u] * days)`` sessions in the experiment and as
many again, drawn independently, in the ``pre_days`` before it (the pre-period CUPED reads).
Each session is shown one list of ``k`` items chosen by a policy. ``potential_outcomes``
plays the same sessions (same noise) under the control's and the treatment's effects, so for
any split of the users the experiment's data is the control totals of one group and the
treatment totals of the other. ``true_effects`` computes the superpopulation truth by a large
Monte Carlo over fresh users with common random numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np

from simulator.behaviour import NO_EFFECT, BehaviourModel, Effect, SessionNoise, play_sessions
from simulator.population import Population, _activity, _user_traits

# (population, user rows, k, rng) -> item rows (users x k), one list per user.
Policy = Callable[[Population, np.ndarray, int, np.random.Generator], np.ndarray]


def popular_policy(pop: Population, users: np.ndarray, k: int, rng: np.random.Generator):
    """Most popular: the ``k`` items of highest bias, for everyone."""
    top = np.argsort(-pop.item_bias, kind="stable")[:k]
    return np.broadcast_to(top, (len(users), k)).copy()


def personalised_policy(
    pop: Population, users: np.ndarray, k: int, rng: np.random.Generator, noise: float = 1.0
):
    """A personalised recommender that knows tastes up to Gumbel noise of scale ``noise``."""
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), 2048):
        rows = users[start : start + 2048]
        scores = pop.user_factors[rows] @ pop.item_factors.T + pop.item_bias
        scores = scores + rng.gumbel(0.0, noise, scores.shape)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + len(rows)] = np.take_along_axis(top, order, axis=1)
    return out


@dataclass(frozen=True)
class UserTotals:
    """Per-user totals over the experiment (and the pre-period, ``pre_*``)."""

    impressions: np.ndarray
    clicks: np.ndarray
    watch_seconds: np.ndarray
    conversions: np.ndarray
    sessions: np.ndarray
    abandoned: np.ndarray
    first_interactions: np.ndarray
    first_interaction_seconds: np.ndarray
    pre_clicks: np.ndarray
    pre_watch_seconds: np.ndarray
    pre_conversions: np.ndarray

    def select(self, mask: np.ndarray) -> UserTotals:
        return UserTotals(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @property
    def tfi_mean(self) -> np.ndarray:
        """Each user's mean time to first interaction (NaN without one), the report's unit."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.first_interaction_seconds / self.first_interactions


@dataclass(frozen=True)
class Traffic:
    """Sessions of a population: who, which list, and the shared noise of each session."""

    user_lists: np.ndarray  # (users, k): every session of a user is shown its list
    session_users: np.ndarray
    session_days: np.ndarray  # when each session happens, in days since the start
    noise: SessionNoise
    pre_session_users: np.ndarray
    pre_noise: SessionNoise


def draw_traffic(
    pop: Population,
    *,
    days: float,
    k: int,
    policy: Policy,
    rng: np.random.Generator,
    pre_days: float = 7.0,
) -> Traffic:
    """Sessions over ``days`` (and ``pre_days`` before), lists from ``policy``."""
    if days <= 0:
        raise ValueError("days: must be positive")
    if pre_days < 0:
        raise ValueError("pre_days: must not be negative")
    lists = policy(pop, np.arange(pop.n_users), k, rng)
    users = np.repeat(np.arange(pop.n_users), rng.poisson(pop.sessions_per_day * days))
    pre = np.repeat(np.arange(pop.n_users), rng.poisson(pop.sessions_per_day * pre_days))
    return Traffic(
        user_lists=lists,
        session_users=users,
        session_days=rng.random(len(users)) * days,
        noise=SessionNoise.draw(len(users), k, rng),
        pre_session_users=pre,
        pre_noise=SessionNoise.draw(len(pre), k, rng),
    )


def user_totals(
    pop: Population,
    model: BehaviourModel,
    traffic: Traffic,
    effect: Effect = NO_EFFECT,
    *,
    until_day: float | None = None,
) -> UserTotals:
    """Play the traffic under ``effect`` and sum it per user (pre-period under no effect);
    ``until_day``: only the sessions before that day (a daily look at the experiment)."""
    n = pop.n_users
    base = model.attraction(pop, np.arange(n), traffic.user_lists)
    users, pre_users = traffic.session_users, traffic.pre_session_users
    lists = traffic.user_lists
    noise = traffic.noise
    if until_day is not None:
        keep = traffic.session_days < until_day
        users = users[keep]
        noise = SessionNoise(*(getattr(noise, f.name)[keep] for f in fields(noise)))
    out = play_sessions(pop, model, users, lists[users], noise, effect, attraction=base[users])
    pre = play_sessions(
        pop, model, pre_users, lists[pre_users], traffic.pre_noise, attraction=base[pre_users]
    )

    def per_user(users: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(users, weights=values, minlength=n)

    engaged = ~out.abandoned
    return UserTotals(
        impressions=per_user(users, np.full(len(users), lists.shape[1], float)),
        clicks=per_user(users, out.clicks.sum(axis=1)),
        watch_seconds=per_user(users, out.watch_seconds.sum(axis=1)),
        conversions=per_user(users, out.conversions.sum(axis=1)),
        sessions=per_user(users, np.ones(len(users))),
        abandoned=per_user(users, out.abandoned.astype(float)),
        first_interactions=per_user(users, engaged.astype(float)),
        first_interaction_seconds=per_user(
            users, np.where(engaged, out.first_interaction_seconds, 0.0)
        ),
        pre_clicks=per_user(pre_users, pre.clicks.sum(axis=1)),
        pre_watch_seconds=per_user(pre_users, pre.watch_seconds.sum(axis=1)),
        pre_conversions=per_user(pre_users, pre.conversions.sum(axis=1)),
    )


def potential_outcomes(
    pop: Population,
    model: BehaviourModel,
    traffic: Traffic,
    effects: dict[str, Effect],
) -> dict[str, UserTotals]:
    """Every user's totals under each variant's effect, with common random numbers."""
    return {name: user_totals(pop, model, traffic, effect) for name, effect in effects.items()}


def fresh_users(pop: Population, n_users: int, rng: np.random.Generator, prefix: str) -> Population:
    """New users from the population's distribution, the same items: generated factors are
    drawn afresh from N(0, 1/dim); fitted ones are resampled from the fitted users."""
    dim = pop.user_factors.shape[1]
    if pop.fitted:
        factors = pop.user_factors[rng.integers(0, pop.n_users, n_users)]
    else:
        factors = rng.normal(0.0, 1.0 / np.sqrt(dim), (n_users, dim))
    sessions, watch = _activity(n_users, rng)
    return replace(
        pop,
        user_ids=np.array([f"{prefix}-u{u}" for u in range(n_users)]),
        user_factors=factors,
        demographics=_user_traits(n_users, rng),
        sessions_per_day=sessions,
        watch_scale=watch,
        _item_index={},
    )


METRICS = ("ctr", "conversion_rate", "watch_time", "session_abandonment", "tfi")


def metric_values(totals: UserTotals) -> dict[str, float]:
    """Each metric as the report computes it (ratios of sums, means) over the exposed users:
    those with at least one session (the others never asked for a list)."""
    totals = totals.select(totals.sessions > 0)
    tfi = totals.tfi_mean
    return {
        "ctr": totals.clicks.sum() / totals.impressions.sum(),
        "conversion_rate": float((totals.conversions > 0).mean()),
        "watch_time": float(totals.watch_seconds.mean()),
        "session_abandonment": totals.abandoned.sum() / totals.sessions.sum(),
        "tfi": float(np.nanmean(tfi)),
    }


def true_effects(
    pop: Population,
    model: BehaviourModel,
    *,
    control: Effect,
    treatment: Effect,
    days: float,
    k: int,
    policy: Policy,
    rng: np.random.Generator,
    n_users: int = 200_000,
) -> dict[str, tuple[float, float]]:
    """(control value, treatment value) of every metric over ``n_users`` fresh users played
    under both effects with common random numbers (the superpopulation truth, to Monte Carlo
    error far below any experiment's)."""
    users = fresh_users(pop, n_users, rng, "truth")
    traffic = draw_traffic(users, days=days, k=k, policy=policy, rng=rng, pre_days=0.0)
    c = metric_values(user_totals(users, model, traffic, control))
    t = metric_values(user_totals(users, model, traffic, treatment))
    return {name: (c[name], t[name]) for name in METRICS}
