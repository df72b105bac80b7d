"""The pseudo-inverse (slate) estimator on logged Plackett-Luce lists.

A context is one user's ranked pool: the logged ``pool_scores`` and ``temperature`` of a
request (a user's requests share one until production is retrained). Slates are written in pool
coordinates, the logged ``pool_positions``. The candidate's slate in the same coordinates
comes from the item ids the context's served lists reveal (a record names only the items it
served); a candidate item never served in the context, or outside production's pool, leaves
the candidate outside the span of the logged slates, and the estimate says so.

Plackett-Luce has no closed-form slot Gram matrix ``Gamma = E[1_s 1_s^T]`` (its off-diagonal
blocks are joint probabilities of two items at two positions), so it is estimated per context
from ``GRAM_DRAWS`` draws of the same sampler (``plackett_luce_draws``): each entry a
frequency with standard error at most ``0.5 / sqrt(GRAM_DRAWS)``, an error the interval does
not include (the row says so). Each context costs a pseudo-inverse of a ``(k m) x (k m)``
matrix (m: pool size), so at most ``max_contexts`` contexts are used, drawn at random
(seeded) when there are more; PI then averages over the lists of the drawn contexts. Lists of
other policies (epsilon-greedy, greedy) are left out of PI and counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.offpolicy import OffPolicyEstimate, slot_gram
from analytics.offpolicy.pseudo_inverse import (
    outside_span_note,
    pseudo_inverse_from_weights,
    pseudo_weights_in_context,
)
from recommenders.core.exploration import plackett_luce_draws
from recommenders.core.served_exploration import PLACKETT_LUCE

GRAM_DRAWS = 4000
MAX_CONTEXTS = 200


@dataclass(frozen=True)
class SlateEstimate:
    """PI's estimate and which lists it used."""

    estimate: OffPolicyEstimate
    note: str


def _context_key(user_id: str, log: dict[str, Any]) -> tuple | None:
    """One user's ranked pool (two users' pools may share scores, never their items)."""
    if not log or log.get("policy") != PLACKETT_LUCE or not log.get("pool_scores"):
        return None
    return (tuple(log["pool_scores"]), float(log["temperature"]), user_id)


def pseudo_inverse_on_logs(
    explorations: Sequence[dict[str, Any]],
    items: Sequence[Sequence[str]],
    target_items: Sequence[Sequence[str]],
    rewards: np.ndarray,
    user_ids: Sequence[str],
    *,
    max_contexts: int = MAX_CONTEXTS,
    seed: int = 0,
) -> SlateEstimate:
    """PI of the candidate's expected clicks per list (module docstring); ``ValueError``
    naming the problem when no list can be used."""
    k = rewards.shape[1]
    by_context: dict[tuple, list[int]] = defaultdict(list)
    for i, (user_id, log) in enumerate(zip(user_ids, explorations, strict=True)):
        key = _context_key(user_id, log)
        if key is not None and len(log["pool_positions"]) == k:
            by_context[key].append(i)
    if not by_context:
        raise ValueError(
            "logs: PI needs lists served with Plackett-Luce exploration (pool scores logged); "
            "none in the window"
        )
    rng = np.random.default_rng(seed)
    keys = list(by_context)
    if len(keys) > max_contexts:
        keys = [keys[i] for i in np.sort(rng.choice(len(keys), max_contexts, replace=False))]
    rows, weights, outside = [], [], 0
    for key in keys:
        lists = by_context[key]
        context_weights, in_span = _context_weights(key, lists, explorations, items,
                                                    target_items, k, rng)  # fmt: skip
        rows += lists
        weights.append(context_weights)
        outside += not in_span
    used = np.array(rows)
    notes = (outside_span_note(outside, len(keys)),) if outside else ()
    estimate = pseudo_inverse_from_weights(
        rewards[used].sum(axis=1), np.concatenate(weights),
        user_ids=[user_ids[i] for i in used], notes=notes,
    )  # fmt: skip
    note = (
        f"on {used.size} of {rewards.shape[0]} lists: {len(keys)} of {len(by_context)} "
        f"Plackett-Luce pools; Gram matrices from {GRAM_DRAWS} draws each (Monte Carlo "
        "error not in the interval)"
    )
    return SlateEstimate(estimate, note)


def _context_weights(
    key: tuple,
    lists: list[int],
    explorations: Sequence[dict[str, Any]],
    items: Sequence[Sequence[str]],
    target_items: Sequence[Sequence[str]],
    k: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, bool]:
    """Pseudo-weights of one context's lists, and whether every candidate slate there lies
    in the span of the logged ones."""
    scores, temperature = np.asarray(key[0]), key[1]
    m = scores.size
    draws = plackett_luce_draws(
        np.broadcast_to(scores, (GRAM_DRAWS, m)), k, temperature=temperature, rng=rng
    )
    gram = slot_gram(draws, np.full(GRAM_DRAWS, 1.0 / GRAM_DRAWS), m)
    place: dict[str, int] = {}
    for i in lists:
        place.update(zip(items[i], map(int, explorations[i]["pool_positions"]), strict=True))
    slates = np.array([[int(p) for p in explorations[i]["pool_positions"]] for i in lists])
    weights = np.zeros(len(lists))
    in_span = True
    by_target: dict[tuple, list[int]] = defaultdict(list)
    for row, i in enumerate(lists):
        by_target[tuple(target_items[i][:k])].append(row)
    for target, members in by_target.items():
        q = np.zeros((m, k))
        for j, item in enumerate(target):
            if item in place:
                q[place[item], j] = 1.0
        weights[members], inside = pseudo_weights_in_context(gram, q, slates[members])
        in_span &= inside
    return weights, in_span
