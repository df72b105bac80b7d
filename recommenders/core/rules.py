"""Business rules, configured by a plain dict (``RecommenderConfig.rules``), applied once.

Keys (all optional)::

    blocked_items: [item index, ...]          content policy: never served
    blocked_categories: [name or index, ...]  content policy: no item with such a category
    max_per_category: int                     at most N items of any category in the list
                                              (an item counts for each of its categories)
    mmr_lambda: float in (0, 1]               maximal marginal relevance re-ranking
                                              (Carbonell & Goldstein 1998):
                                              argmax_i  lambda rel_i - (1 - lambda) max_s cos(i, s)
                                              over the not yet selected i, s selected
    freshness_boost: float >= 0               multiplier 1 + boost * max(0, 1 - n_i / N) for an
    freshness_interactions: int in [1, 1000]  item with n_i interactions (N, default 50; the
                                              product guidance is 50-100)
    trusted_creators: [creator id, ...]       multiplier 1 + trusted_boost for their items
    trusted_boost: float >= 0                 (default 0.2)

Two steps with two names:

- :func:`apply_rules` is the content policy and the list's shape, for every model: drop
  duplicates and blocked items (or items of a blocked category), cap each category, keep
  the first k. Scores pass unchanged. The caps are hard: a list comes back shorter than k
  rather than break them. Every served list passes it exactly once
  (:meth:`recommenders.core.base.Recommender.recommend_one`).
- :func:`rerank` is the ranking part of the rules (freshness and trusted-creator
  multipliers, MMR), for a model whose scores are relevance shares (the pipeline, which
  runs it before :func:`apply_rules`). Relevance entering the multipliers is the ranking
  score turned into a positive share, rel_i = softmax(score)_i over the ranked candidates,
  so that multipliers act the same on any score scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

RULE_KEYS = {
    "blocked_items",
    "blocked_categories",
    "max_per_category",
    "mmr_lambda",
    "mmr_pool",
    "freshness_boost",
    "freshness_interactions",
    "trusted_creators",
    "trusted_boost",
}


@dataclass
class Rules:
    """Validated rules; build with :meth:`from_dict`."""

    blocked_items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    blocked_categories: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    max_per_category: int | None = None
    mmr_lambda: float | None = None
    mmr_pool: int = 100
    freshness_boost: float = 0.0
    freshness_interactions: int = 50
    trusted_creators: list[str] = field(default_factory=list)
    trusted_boost: float = 0.2

    @classmethod
    def from_dict(cls, config: dict[str, Any] | None, category_names: list[str]) -> Rules:
        """Check and convert a rules dict; ValueError names the offending key."""
        config = dict(config or {})
        unknown = set(config) - RULE_KEYS
        if unknown:
            raise ValueError(f"unknown rule(s) {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
        rules = cls()
        rules.blocked_items = np.asarray(config.get("blocked_items", []), dtype=np.int64)
        rules.blocked_categories = _category_indices(
            config.get("blocked_categories", []), category_names
        )
        cap = config.get("max_per_category")
        if cap is not None and (int(cap) != cap or cap < 1):
            raise ValueError("max_per_category must be a positive integer")
        rules.max_per_category = None if cap is None else int(cap)
        mmr = config.get("mmr_lambda")
        if mmr is not None and not 0 < float(mmr) <= 1:
            raise ValueError("mmr_lambda must lie in (0, 1]")
        rules.mmr_lambda = None if mmr is None else float(mmr)
        rules.mmr_pool = int(config.get("mmr_pool", 100))
        rules.freshness_boost = float(config.get("freshness_boost", 0.0))
        rules.freshness_interactions = int(config.get("freshness_interactions", 50))
        if not 1 <= rules.freshness_interactions <= 1000:
            raise ValueError("freshness_interactions must lie in [1, 1000]")
        rules.trusted_creators = [str(c) for c in config.get("trusted_creators", [])]
        rules.trusted_boost = float(config.get("trusted_boost", 0.2))
        if rules.freshness_boost < 0 or rules.trusted_boost < 0:
            raise ValueError("boosts must be non-negative")
        return rules


def _category_indices(values: list, names: list[str]) -> np.ndarray:
    out = []
    for value in values:
        if isinstance(value, str) and not value.isdigit():
            if value not in names:
                raise ValueError(f"unknown category {value!r} in blocked_categories")
            out.append(names.index(value))
        else:
            out.append(int(value))
    return np.asarray(out, dtype=np.int64)


def allowed_mask(items: np.ndarray, rules: Rules, item_categories: sp.csr_matrix) -> np.ndarray:
    """True for items the content policy allows (not blocked, no blocked category)."""
    allowed = ~np.isin(items, rules.blocked_items)
    if len(rules.blocked_categories):
        in_range = items < item_categories.shape[0]
        blocked_hits = np.zeros(len(items), dtype=bool)
        cats = item_categories[items[in_range]][:, rules.blocked_categories]
        blocked_hits[in_range] = np.asarray(cats.sum(axis=1)).ravel() > 0
        allowed &= ~blocked_hits
    return allowed


def relevance(scores: np.ndarray) -> np.ndarray:
    """softmax(scores): positive shares summing to 1 (-inf -> 0)."""
    finite = np.isfinite(scores)
    out = np.zeros(len(scores), dtype=np.float64)
    if finite.any():
        shifted = scores[finite] - scores[finite].max()
        weights = np.exp(shifted)
        out[finite] = weights / weights.sum()
    return out


def apply_rules(
    items: np.ndarray, k: int, rules: Rules, item_categories: sp.csr_matrix
) -> np.ndarray:
    """Positions in ``items`` (ranked best first) of the served list: the first k items that
    are not duplicates, pass the content policy (:func:`allowed_mask`) and fit under the
    category cap (greedy, in rank order)."""
    items = np.asarray(items, dtype=np.int64)
    _, first = np.unique(items, return_index=True)
    keep = np.zeros(len(items), dtype=bool)
    keep[first] = True
    keep &= allowed_mask(items, rules, item_categories)
    positions = np.flatnonzero(keep)
    return positions[
        _cap(
            np.arange(len(positions)), items[positions], item_categories, k, rules.max_per_category
        )
    ]


def rerank(
    items: np.ndarray,
    scores: np.ndarray,
    k: int,
    rules: Rules,
    item_count: np.ndarray,
    item_creators: np.ndarray | None = None,
    item_vectors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``items`` in the new order, relevance per position after the
    multipliers): softmax shares of ``scores`` times the freshness and trusted-creator
    multipliers, ordered best first (ties to the lower item index), then MMR over the best
    ``max(mmr_pool, k)`` when ``mmr_lambda`` is set (the order then holds that pool only).
    ``items`` must be distinct and allowed: the shares are taken over all of them."""
    items = np.asarray(items, dtype=np.int64)
    if len(items) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    rel = relevance(np.asarray(scores, dtype=np.float64))
    rel *= _multipliers(items, rules, item_count, item_creators)
    order = np.lexsort((items, -rel))
    if rules.mmr_lambda is not None and item_vectors is not None:
        order = _mmr(order[: max(rules.mmr_pool, k)], rel, item_vectors[items], k, rules)
    return order, rel


def _multipliers(items, rules: Rules, item_count, item_creators) -> np.ndarray:
    multiplier = np.ones(len(items))
    if rules.freshness_boost > 0:
        counts = np.where(
            items < len(item_count), item_count[np.minimum(items, len(item_count) - 1)], 0
        )
        multiplier *= 1.0 + rules.freshness_boost * np.clip(
            1.0 - counts / rules.freshness_interactions, 0.0, 1.0
        )
    if rules.trusted_creators and item_creators is not None:
        trusted = np.isin(item_creators[items], rules.trusted_creators)
        multiplier *= np.where(trusted, 1.0 + rules.trusted_boost, 1.0)
    return multiplier


def _mmr(pool: np.ndarray, rel: np.ndarray, vectors: np.ndarray, k: int, rules: Rules):
    """Greedy MMR over ``pool`` (positions), relevance rescaled to [0, 1]."""
    lam = float(rules.mmr_lambda or 1.0)
    pool_rel = rel[pool] / max(rel[pool].max(), 1e-12)
    sims = vectors[pool] @ vectors[pool].T
    selected: list[int] = []
    max_sim = np.full(len(pool), -np.inf)
    available = np.ones(len(pool), dtype=bool)
    for _ in range(len(pool)):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = np.where(available, lam * pool_rel - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        selected.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, sims[best])
    return pool[np.array(selected, dtype=np.int64)]


def _cap(order, items, item_categories, k: int, cap: int | None) -> np.ndarray:
    """Greedy: walk ``order`` best first, skip an item whose categories are full."""
    if cap is None:
        return order[:k]
    ordered = items[order]
    inside = ordered < item_categories.shape[0]
    sub = item_categories[np.where(inside, ordered, 0)]
    indptr, indices = sub.indptr.tolist(), sub.indices.tolist()
    counts = [0] * item_categories.shape[1]
    picked: list[int] = []
    for row, position in enumerate(order.tolist()):
        cats = indices[indptr[row] : indptr[row + 1]] if inside[row] else []
        if any(counts[c] >= cap for c in cats):
            continue
        for c in cats:
            counts[c] += 1
        picked.append(position)
        if len(picked) == k:
            break
    return np.asarray(picked, dtype=np.int64)
