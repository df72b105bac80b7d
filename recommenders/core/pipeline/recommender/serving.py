"""Online scoring: one request end to end (:meth:`recommend_one`), and the batch interface.

A mixin of :class:`PipelineRecommender`: the ranking inputs of a user (candidates and
their features), the ranker's scores through the short-history blend (:mod:`.blend`), the
business rules, and the cold-start path for a user with no history at all; plus the
:class:`Recommender` interface (``recommend``, ``score``) built on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommenders.core.base import Recommendations, Served
from recommenders.core.cold_start import cold_user_scores
from recommenders.core.item_catalogue import ItemCatalogue
from recommenders.core.pipeline.candidates import Candidates, UserState
from recommenders.core.pipeline.features import candidate_features
from recommenders.core.pipeline.recommender.blend import ShortHistoryBlendMixin
from recommenders.core.pipeline.user_state import UserStateMixin
from recommenders.core.rules import Rules, allowed_mask, apply_rules, rerank


class ServingMixin(ShortHistoryBlendMixin, UserStateMixin):
    """``recommend_one``, ``recommend``, ``score`` and their helpers (needs ``store``,
    ``generator``, ``tower``, ``n_items`` on the model, besides what the blend and
    ``user_state`` need)."""

    # --- ranking ---------------------------------------------------------------------
    def _rank_inputs(
        self, state: UserState, rules: Rules, item_categories: Any = None
    ) -> tuple[Candidates, np.ndarray]:
        """Candidates (none blocked by ``rules`` over ``item_categories``, default the
        store's) and their ranking features."""
        store, generator = self.store, self.generator
        assert store is not None and generator is not None
        if item_categories is None:
            item_categories = store.item_categories
        trend = store.trend_column(state.reference_ts)
        demographic = (
            self.demographic.scores(state.attr_codes)
            if self.demographic.knows(state.attr_codes)
            else None
        )
        next_scores = self._next_scores(state, feature=True)
        source_scores = next_scores if len(state.history) else None
        candidates = generator.generate(state, trend, demographic, self.n_items, source_scores)
        allowed = allowed_mask(candidates.items, rules, item_categories)
        if not allowed.all():
            candidates = Candidates(
                candidates.items[allowed],
                candidates.source[allowed],
                candidates.source_mask[allowed],
                candidates.cf_score[allowed],
            )
        tower_scores = self.tower.item_vectors[candidates.items] @ state.vector
        features = candidate_features(
            store, state, candidates, tower_scores, demographic, trend, next_scores
        )
        return candidates, features

    def recommend_one(
        self,
        user_index: int | None = None,
        k: int = 10,
        context: dict[str, Any] | None = None,
        history: list[int] | None = None,
        preferences: dict[str, Any] | None = None,
        rules: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
        catalogue: ItemCatalogue | None = None,
    ) -> Served:
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
        - ``rules``: a rules dict (see ``rules.py``); None: the model's default rules.
        - ``attributes``: demographics by name (``gender``, ``age``, ...), for new users.
        - ``catalogue``: the items' categories the rules read (blocked categories, caps);
          None: the feature store's.

        ``score`` is the relevance share after the rules' multipliers (softmax of the
        ranker's output over the candidates, blended with the next-item chain for a short
        history); ``source`` names the candidate source (``ann``, ``item_cf``,
        ``category_trending``, ``trending``, ``fresh``, ``demographic``, ``sequence``) or
        the cold-start path (``cold_demographic``, ``cold_popular``).
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        catalogue = self.item_catalogue() if catalogue is None else catalogue
        parsed = Rules.from_dict(
            self.params["rules"] if rules is None else rules, catalogue.category_names
        )
        state = self.user_state(user_index, context, history, preferences, attributes)
        state.exclude = np.union1d(state.exclude, parsed.blocked_items)
        if len(state.history) == 0:
            return self._cold(state, k, parsed, catalogue)
        candidates, features = self._rank_inputs(state, parsed, catalogue.categories)
        scores = self._final_scores(state, candidates, features)
        items, adjusted, positions = self._apply(candidates.items, scores, k, parsed, catalogue)
        names = candidates.source_names()
        return [
            (int(i), float(s), names[p]) for i, s, p in zip(items, adjusted, positions, strict=True)
        ]

    def item_catalogue(self) -> ItemCatalogue:
        """The feature store's categories, and popularity."""
        assert self.store is not None
        return ItemCatalogue(
            self.store.item_categories, self.store.category_names, self.item_popularity
        )

    def _apply(self, items, scores, k, rules: Rules, catalogue: ItemCatalogue):
        """(items, relevance, positions in ``items``) served: :func:`rerank` on the
        relevance shares, then the rules once (``items`` are distinct and allowed)."""
        store = self.store
        assert store is not None
        creators = None
        if rules.trusted_creators and store.creator_names:
            names = np.array([""] + store.creator_names)
            creators = names[store.item_creator]
        order, rel = rerank(
            items, scores, k, rules, store.item_count, creators, self.tower.item_vectors
        )
        kept = order[apply_rules(items[order], k, rules, catalogue.categories)]
        return items[kept], rel[kept].astype(np.float32), kept

    def _cold(self, state: UserState, k: int, rules: Rules, catalogue: ItemCatalogue) -> Served:
        """No history at all: demographic neighbours' preferences (or popularity), liked
        categories first, spread across categories."""
        store = self.store
        assert store is not None
        if self.demographic.knows(state.attr_codes):
            base, source = self.demographic.scores(state.attr_codes), "cold_demographic"
        else:
            base, source = np.log1p(store.item_count).astype(np.float32), "cold_popular"
        scores = cold_user_scores(
            base,
            store.item_categories,
            state.preferred_categories,
            self.params["preferred_category_bonus"],
        )
        scores[scores == -np.inf] = float(np.min(base)) - 1.0 if len(base) else 0.0
        scores[state.exclude[state.exclude < len(scores)]] = -np.inf
        pool_size = min(len(scores), max(20 * k, 200))
        pool = np.argpartition(-scores, pool_size - 1)[:pool_size]
        pool = pool[np.isfinite(scores[pool])]
        pool = pool[allowed_mask(pool, rules, catalogue.categories)]
        if rules.max_per_category is None:
            rules.max_per_category = self.params["cold_max_per_category"]
        items, adjusted, _ = self._apply(pool, scores[pool], k, rules, catalogue)
        return [(int(i), float(s), source) for i, s in zip(items, adjusted, strict=True)]

    # --- the Recommender interface ---------------------------------------------------
    def recommend(
        self, user_indices: np.ndarray | list[int], k: int, exclude_seen: bool = True
    ) -> Recommendations:
        """Batch top-k through :meth:`recommend_one` (default rules, offline context).
        Seen items are always excluded; ``fallback`` flags users answered by cold start."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        users = np.asarray(user_indices, dtype=np.int64).ravel()
        if (users < 0).any():
            raise ValueError("user indices must be non-negative")
        idx = np.full((len(users), k), -1, np.int64)
        val = np.full((len(users), k), -np.inf, np.float32)
        fallback = np.zeros(len(users), dtype=bool)
        for row, user in enumerate(users):
            served = self.recommend_one(int(user), k)
            for col, (item, score, _source) in enumerate(served):
                idx[row, col], val[row, col] = item, score
            fallback[row] = bool(served) and served[0][2].startswith("cold_")
        return Recommendations(idx, val, fallback)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        out = np.full((len(user_indices), self.n_items), -np.inf, dtype=np.float32)
        for row, user in enumerate(user_indices):
            state = self.user_state(int(user))
            candidates, features = self._rank_inputs(state, Rules())
            out[row, candidates.items] = self._final_scores(state, candidates, features)
        return out

    def score(self, user_index: int, item_indices: np.ndarray | list[int]) -> np.ndarray:
        """Ranker scores of the given items for one user (no rules), via the features."""
        assert self.store is not None and self.generator is not None
        items = np.asarray(item_indices, dtype=np.int64)
        state = self.user_state(user_index)
        cf = self.generator.lookup(*self.generator.item_cf_scores(state.history), items)
        candidates = Candidates(
            items, np.zeros(len(items), np.int8), np.zeros(len(items), np.int64), cf
        )
        trend = self.store.trend_column(state.reference_ts)
        demographic = (
            self.demographic.scores(state.attr_codes)
            if self.demographic.knows(state.attr_codes)
            else None
        )
        tower_scores = self.tower.item_vectors[items] @ state.vector
        features = candidate_features(
            self.store,
            state,
            candidates,
            tower_scores,
            demographic,
            trend,
            self._next_scores(state, feature=True),
        )
        return self._final_scores(state, candidates, features).astype(np.float32)
