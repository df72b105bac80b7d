"""Online scoring: one request end to end (:func:`serve_one`), and the batch interface.

Plain functions over a :class:`.state.FittedPipeline`: the ranking inputs of a user
(candidates and their features), the ranker's scores through the short-history blend
(:mod:`.blend`), the business rules (:mod:`recommenders.core.rules`: ``rerank`` on the
relevance shares, then ``apply_rules`` once), and the cold-start path for a user with no
history at all; plus what the :class:`~recommenders.core.base.Recommender` interface needs
(``recommend``, ``score``) built on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import Recommendations, Served
from recommenders.core.cold_start import cold_user_scores
from recommenders.core.item_catalogue import ItemCatalogue
from recommenders.core.pipeline.candidates import Candidates, UserState
from recommenders.core.pipeline.features import candidate_features
from recommenders.core.pipeline.recommender.blend import final_scores, next_scores
from recommenders.core.pipeline.recommender.state import FittedPipeline
from recommenders.core.pipeline.user_state import user_state
from recommenders.core.rules import Rules, allowed_mask, apply_rules, rerank


@dataclass(frozen=True)
class ServingRequest:
    """One request (see :func:`serve_one` for each field)."""

    user_index: int | None = None
    k: int = 10
    context: dict[str, Any] | None = None
    history: list[int] | None = None
    preferences: dict[str, Any] | None = None
    rules: dict[str, Any] | None = None
    attributes: dict[str, str] | None = None
    catalogue: ItemCatalogue | None = None


def item_catalogue(fitted: FittedPipeline) -> ItemCatalogue:
    """The feature store's categories, and popularity."""
    store = fitted.store
    return ItemCatalogue(store.item_categories, store.category_names, fitted.item_popularity)


# --- ranking -------------------------------------------------------------------------
def rank_inputs(
    fitted: FittedPipeline,
    user: UserState,
    rules: Rules,
    item_categories: sp.csr_matrix | None = None,
) -> tuple[Candidates, np.ndarray]:
    """Candidates for ``user`` (none blocked by ``rules`` over ``item_categories``, default
    the store's) and their ranking features."""
    store = fitted.store
    if item_categories is None:
        item_categories = store.item_categories
    trend = store.trend_column(user.reference_ts)
    demographic = (
        fitted.demographic.scores(user.attr_codes)
        if fitted.demographic.knows(user.attr_codes)
        else None
    )
    chain = next_scores(fitted.next_items, user, feature=True)
    source_scores = chain if len(user.history) else None
    candidates = fitted.generator.generate(user, trend, demographic, fitted.n_items, source_scores)
    allowed = allowed_mask(candidates.items, rules, item_categories)
    if not allowed.all():
        candidates = Candidates(
            candidates.items[allowed],
            candidates.source[allowed],
            candidates.source_mask[allowed],
            candidates.cf_score[allowed],
        )
    tower_scores = fitted.tower.item_vectors[candidates.items] @ user.vector
    features = candidate_features(store, user, candidates, tower_scores, demographic, trend, chain)
    return candidates, features


def serve_one(fitted: FittedPipeline, request: ServingRequest) -> Served:
    """One request end to end; returns up to k ``(item_index, score, source)``, best first.

    - ``user_index``: the user's row in the fitted data, or None (or an index beyond
      it) for a user the model has not seen.
    - ``k``: list length (> 0). The list is shorter when rules or a tiny catalogue
      leave fewer items; it never holds a seen, blocked or duplicate item.
    - ``context``: optional ``timestamp`` (unix seconds, the request time: hour,
      weekday and trending are read at it; default: the user's latest interaction,
      else the data's), or ``hour`` (0-23) and ``weekday`` (0 = Monday); ``device``,
      ``surface``, ``campaign`` (signup context; hashed tower features);
      ``session_depth`` (requests so far in the session); ``last_interaction_ts``.
    - ``history``: the user's interactions as item indices, oldest first; when given it
      replaces the fitted history (new users, or interactions newer than the model).
    - ``preferences``: stated preferences, ``{"items": [item index, ...],
      "categories": [category name or index, ...]}``, used at once: liked items act as
      history, liked categories raise the category affinity (and, for a user with no
      history at all, rank their items first).
    - ``rules``: a rules dict (see :mod:`recommenders.core.rules`); None: the model's
      default rules.
    - ``attributes``: demographics by name (``gender``, ``age``, ...), for new users.
    - ``catalogue``: the items' categories the rules read (blocked categories, caps);
      None: the feature store's.

    ``score`` is the relevance share after the rules' multipliers (softmax of the
    ranker's output over the candidates, blended with the next-item chain for a short
    history); ``source`` names the candidate source (``ann``, ``item_cf``,
    ``category_trending``, ``trending``, ``fresh``, ``demographic``, ``sequence``) or
    the cold-start path (``cold_demographic``, ``cold_popular``).
    """
    k = request.k
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    catalogue = item_catalogue(fitted) if request.catalogue is None else request.catalogue
    config = fitted.params["rules"] if request.rules is None else request.rules
    rules = Rules.from_dict(config, catalogue.category_names)
    user = user_state(
        fitted,
        request.user_index,
        request.context,
        request.history,
        request.preferences,
        request.attributes,
    )
    user.exclude = np.union1d(user.exclude, rules.blocked_items)
    if len(user.history) == 0:
        return _cold(fitted, user, k, rules, catalogue)
    candidates, features = rank_inputs(fitted, user, rules, catalogue.categories)
    scores = final_scores(fitted, user, candidates, features)
    items, adjusted, positions = _apply(fitted, candidates.items, scores, k, rules, catalogue)
    names = candidates.source_names()
    return [
        (int(i), float(s), names[p]) for i, s, p in zip(items, adjusted, positions, strict=True)
    ]


def _apply(
    fitted: FittedPipeline,
    items: np.ndarray,
    scores: np.ndarray,
    k: int,
    rules: Rules,
    catalogue: ItemCatalogue,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, relevance, positions in ``items``) served: ``rerank`` on the relevance
    shares, then the rules once (``items`` are distinct and allowed)."""
    store = fitted.store
    creators = None
    if rules.trusted_creators and store.creator_names:
        names = np.array([""] + store.creator_names)
        creators = names[store.item_creator]
    order, rel = rerank(
        items, scores, k, rules, store.item_count, creators, fitted.tower.item_vectors
    )
    kept = order[apply_rules(items[order], k, rules, catalogue.categories)]
    return items[kept], rel[kept].astype(np.float32), kept


def _cold(
    fitted: FittedPipeline, user: UserState, k: int, rules: Rules, catalogue: ItemCatalogue
) -> Served:
    """No history at all: demographic neighbours' preferences (or popularity), liked
    categories first, spread across categories (``cold_max_per_category`` unless the
    rules cap them)."""
    store = fitted.store
    if fitted.demographic.knows(user.attr_codes):
        base, source = fitted.demographic.scores(user.attr_codes), "cold_demographic"
    else:
        base, source = np.log1p(store.item_count).astype(np.float32), "cold_popular"
    scores = cold_user_scores(
        base,
        store.item_categories,
        user.preferred_categories,
        fitted.params["preferred_category_bonus"],
    )
    scores[scores == -np.inf] = float(np.min(base)) - 1.0 if len(base) else 0.0
    scores[user.exclude[user.exclude < len(scores)]] = -np.inf
    pool_size = min(len(scores), max(20 * k, 200))
    pool = np.argpartition(-scores, pool_size - 1)[:pool_size]
    pool = pool[np.isfinite(scores[pool])]
    pool = pool[allowed_mask(pool, rules, catalogue.categories)]
    if rules.max_per_category is None:
        rules.max_per_category = fitted.params["cold_max_per_category"]
    items, adjusted, _ = _apply(fitted, pool, scores[pool], k, rules, catalogue)
    return [(int(i), float(s), source) for i, s in zip(items, adjusted, strict=True)]


# --- the Recommender interface -------------------------------------------------------
def recommend_batch(fitted: FittedPipeline, users: np.ndarray, k: int) -> Recommendations:
    """Batch top-k through :func:`serve_one` (default rules, offline context). Seen items
    are always excluded; ``fallback`` flags users answered by cold start."""
    idx = np.full((len(users), k), -1, np.int64)
    val = np.full((len(users), k), -np.inf, np.float32)
    fallback = np.zeros(len(users), dtype=bool)
    for row, user in enumerate(users):
        served = serve_one(fitted, ServingRequest(user_index=int(user), k=k))
        for col, (item, score, _source) in enumerate(served):
            idx[row, col], val[row, col] = item, score
        fallback[row] = bool(served) and served[0][2].startswith("cold_")
    return Recommendations(idx, val, fallback)


def score_users(fitted: FittedPipeline, user_indices: np.ndarray) -> np.ndarray:
    """Dense blended ranker scores over the candidates of each user (-inf elsewhere)."""
    out = np.full((len(user_indices), fitted.n_items), -np.inf, dtype=np.float32)
    for row, user_index in enumerate(user_indices):
        user = user_state(fitted, int(user_index))
        candidates, features = rank_inputs(fitted, user, Rules())
        out[row, candidates.items] = final_scores(fitted, user, candidates, features)
    return out


def score_items(fitted: FittedPipeline, user_index: int, items: np.ndarray) -> np.ndarray:
    """Ranker scores of the given items for one user (no rules), via the features."""
    store, generator = fitted.store, fitted.generator
    user = user_state(fitted, user_index)
    cf = generator.lookup(*generator.item_cf_scores(user.history), items)
    candidates = Candidates(
        items, np.zeros(len(items), np.int8), np.zeros(len(items), np.int64), cf
    )
    trend = store.trend_column(user.reference_ts)
    demographic = (
        fitted.demographic.scores(user.attr_codes)
        if fitted.demographic.knows(user.attr_codes)
        else None
    )
    tower_scores = fitted.tower.item_vectors[items] @ user.vector
    features = candidate_features(
        store,
        user,
        candidates,
        tower_scores,
        demographic,
        trend,
        next_scores(fitted.next_items, user, feature=True),
    )
    return final_scores(fitted, user, candidates, features).astype(np.float32)
