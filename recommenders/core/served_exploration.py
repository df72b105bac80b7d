"""Exploration as one step after ranking: sample the served list from the ranked pool.

With exploration on, the model ranks a pool of ``pool`` items (``recommend_one`` with
``k = pool``, business rules already applied) and :func:`explore_served` draws the final
``k`` from it with the samplers of :mod:`recommenders.core.exploration`:

- ``plackett_luce``: Plackett-Luce over the pool's scores at ``temperature`` (in units of
  the ranker's score). The sampler gives each position's *step* propensity (probability of
  the item given the positions before it) and the list's probability; the *marginal*
  item-position probability that item-position estimators divide by costs ~20 ms for a pool of
  50 (:func:`~recommenders.core.exploration.plackett_luce_marginals`), too slow for the
  request path, so the served record carries the pool's scores and :func:`logged_marginals`
  recomputes it exactly when the log is read.
- ``epsilon_greedy``: the ranked top-k with one adjacent pair swapped with probability
  ``epsilon``; its step propensities are the exact marginals (closed form).
- ``off``: the ranked top-k, every propensity 1 (a deterministic list).

Every draw comes from a generator seeded by the request (:func:`request_rng`), so a logged
list can be reproduced from its request id.

The expected cost shown to the owner (:func:`expected_cost`) is the position-based loss of
:func:`~recommenders.core.exploration.exploration_cost` with examination ``1 / log2(j + 2)``
(the DCG discount) and relevance from the ranked scores calibrated to the version's offline
precision@k: ``rel_i = clip(p * s'_i / mean(s'_top-k), 0, 1)`` with ``s'`` the scores
min-max scaled to [0, 1]. It is an estimate under those stated assumptions, not a measurement.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from recommenders.core.exploration import (
    epsilon_swap_marginals,
    epsilon_swap_sample,
    exploration_cost,
    greedy_marginals,
    plackett_luce_marginals,
    plackett_luce_sample,
)

OFF = "off"
PLACKETT_LUCE = "plackett_luce"
EPSILON_GREEDY = "epsilon_greedy"
MODES = (OFF, PLACKETT_LUCE, EPSILON_GREEDY)
MAX_POOL = 500

Served = list[tuple[int, float, str]]


@dataclass(frozen=True)
class ExplorationSettings:
    """A configuration's exploration policy; checked on construction (field-named errors)."""

    mode: str = OFF
    temperature: float = 1.0
    epsilon: float = 0.1
    pool: int = 50

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"exploration_mode: must be one of {', '.join(MODES)}")
        temperature = self.temperature
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise ValueError("exploration_temperature: must be a number")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError("exploration_temperature: must be finite and greater than 0")
        epsilon = self.epsilon
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
            raise ValueError("exploration_epsilon: must be a number")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError("exploration_epsilon: must lie in [0, 1]")
        if isinstance(self.pool, bool) or not isinstance(self.pool, int):
            raise ValueError("exploration_pool: must be a whole number")
        if not 1 <= self.pool <= MAX_POOL:
            raise ValueError(f"exploration_pool: must lie in [1, {MAX_POOL}]")

    @property
    def is_on(self) -> bool:
        return self.mode != OFF

    def depth(self, k: int) -> int:
        """How many ranked items the model must return for a list of ``k``."""
        return max(k, self.pool) if self.mode == PLACKETT_LUCE else k

    def as_log(self) -> dict[str, object]:
        """The policy's parameters as logged with each served list."""
        if self.mode == PLACKETT_LUCE:
            return {"policy": self.mode, "temperature": self.temperature}
        if self.mode == EPSILON_GREEDY:
            return {"policy": self.mode, "epsilon": self.epsilon}
        return {"policy": "greedy"}


@dataclass(frozen=True)
class ExploredServed:
    """The served list and what off-policy evaluation needs about how it was drawn.

    ``propensities[j]``: the marginal probability of the item at position ``j`` (None for
    Plackett-Luce: see the module docstring); ``step_propensities[j]``: its probability given
    the positions before it; ``log``: what the served record carries (policy, its parameters,
    list probability; for Plackett-Luce the pool's scores and each served item's place in
    the pool, from which :func:`logged_marginals` recomputes the marginals).
    """

    served: Served
    propensities: list[float | None]
    step_propensities: list[float]
    list_probability: float
    log: dict[str, object] = field(default_factory=dict)


def request_rng(seed_text: str) -> np.random.Generator:
    """A generator seeded by a request's id (BLAKE2b of the text, 64 bits)."""
    digest = hashlib.blake2b(seed_text.encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def explore_served(
    ranked: Served, k: int, settings: ExplorationSettings, rng: np.random.Generator
) -> ExploredServed:
    """Draw the served top-``k`` from the ``ranked`` pool (best first) under ``settings``."""
    if not settings.is_on or len(ranked) <= 1:
        top = ranked[:k]
        ones = [1.0] * len(top)
        log = {"policy": "greedy", "list_probability": 1.0}
        return ExploredServed(top, list(ones), list(ones), 1.0, log)
    if settings.mode == EPSILON_GREEDY:
        # Ranks, not scores: the ranked order may differ from the score order (rules, MMR).
        ranks = -np.arange(len(ranked), dtype=float)
        drawn = epsilon_swap_sample(ranks, k, epsilon=settings.epsilon, rng=rng)
        steps = drawn.step_propensities.tolist()
        log = {**settings.as_log(), "list_probability": drawn.list_probability}
        served = [ranked[int(i)] for i in drawn.indices]
        return ExploredServed(served, list(steps), steps, drawn.list_probability, log)
    scores = np.array([score for _, score, _ in ranked], dtype=float)
    if not np.isfinite(scores).all():  # no propensities to be had: serve it sorted, say so
        return explore_served(ranked, k, ExplorationSettings(), rng)
    drawn = plackett_luce_sample(scores, k, temperature=settings.temperature, rng=rng)
    log = {
        **settings.as_log(),
        "list_probability": drawn.list_probability,
        "pool_scores": np.round(scores, 6).tolist(),  # 8x cheaper than round() per score
        "pool_positions": [int(i) for i in drawn.indices],
    }
    served = [ranked[int(i)] for i in drawn.indices]
    steps = drawn.step_propensities.tolist()
    return ExploredServed(served, [None] * len(served), steps, drawn.list_probability, log)


def logged_marginals(
    log: dict[str, object], k: int, memo: dict[tuple, np.ndarray] | None = None
) -> list[float]:
    """The marginal item-position propensities of a logged Plackett-Luce list, recomputed
    from its pool's scores. ``memo`` keeps the marginals per pool (a user's pool repeats
    until the model is retrained; each costs ~20 ms for a pool of 50)."""
    if log.get("policy") != PLACKETT_LUCE:
        raise ValueError("exploration: only Plackett-Luce lists need their marginals recomputed")
    temperature = float(log["temperature"])  # type: ignore[arg-type]
    scores: tuple[float, ...] = tuple(log["pool_scores"])  # type: ignore[arg-type]
    key = (scores, temperature, k)
    memo = {} if memo is None else memo
    if key not in memo:
        try:
            memo[key] = plackett_luce_marginals(np.asarray(scores), k, temperature=temperature)
        except ValueError as error:
            if not str(error).startswith("temperature"):
                raise
            # Weights underflow (a score gap above 575 temperatures): the draw was the sorted
            # list with probability 1 to double precision, and so are its marginals.
            memo[key] = greedy_marginals(np.asarray(scores), k)
    positions: list[int] = [int(p) for p in log["pool_positions"]]  # type: ignore[attr-defined]
    return [float(memo[key][p, j]) for j, p in enumerate(positions)]


def expected_cost(
    ranked_scores: np.ndarray, k: int, settings: ExplorationSettings, precision_at_k: float
) -> float:
    """Expected loss in CTR per impression (clicks per list / ``k``) of ``settings`` against
    the ranked top-``k``, for one ranked pool (module docstring for the assumptions)."""
    if not settings.is_on:
        return 0.0
    scores = np.asarray(ranked_scores, dtype=float)
    k = min(k, scores.size)
    if settings.mode == PLACKETT_LUCE:
        pool = scores[: settings.pool]
        marginals = plackett_luce_marginals(pool, k, temperature=settings.temperature)
    else:
        pool = -np.arange(scores.size, dtype=float)[: max(k, 1)]
        marginals = epsilon_swap_marginals(pool, k, epsilon=settings.epsilon)
    span = float(scores.max() - scores.min())
    scaled = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    top_mean = float(scaled[:k].mean()) or 1.0
    relevance = np.clip(precision_at_k * scaled[: pool.size] / top_mean, 0.0, 1.0)
    examination = 1.0 / np.log2(np.arange(k) + 2.0)
    cost = exploration_cost(pool, marginals, relevance, examination)
    return cost.loss / k
