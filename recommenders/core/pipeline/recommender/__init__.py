"""``pipeline``: candidates from several sources, an MLP ranker, business rules, cold start.

Fitting (offline):

1. each user's latest interaction is held out as the ranker's label (leave-last-out on
   the training data); for a seeded share of the users (``light_user_share``) only their
   first L interactions are kept (L uniform in 1..8) and the next one is the label, so
   that the ranker also learns from users with a short history (cold start) without any
   of their later interactions reaching the towers; the two-tower model is trained on
   the rest;
2. the sources and the feature store are built on the same rest, candidates are
   generated for every user and the ranker trained on them (label vs sampled negatives);
3. the serving state is rebuilt on all the training data (histories, item-CF
   neighbours, next-item chain, feature store, ANN indexes): the towers and the ranker
   are not retrained.

Every user with a history gets a ``sequence`` candidate source (the likeliest next items
after their latest ones) and its log-probability as a ranking feature. The ranker is
trained on users with long histories, and for a user known by a few items its softmax is
a weak guess; so users with a short history (at most ``sequence_max_history`` items) have
a final score that is a product of experts: the ranker's softmax over the candidates,
the next-item chain's probability and the early co-occurrence's (:mod:`sequence`), the
demographic lift (:mod:`cold_start`, when demographics are known) and the early-trend
lift at the request time t (what users picked early in their histories shortly before
t, :class:`sequence.EarlyTrend`)::

    score_j = log softmax(f)_j + w_s log p_next(j | h) + w_e log p_early(j | h)
              + w_d [log p(j | a) - log p(j)] + w_t [log p_j(t) - log q_j]

with w_s = ``sequence_weight``, w_e = ``early_cooccurrence_weight``, w_d =
``demographic_weight``, w_t = ``early_trend_weight``. The weights were chosen on
simulated cold users drawn from training users only (first 3 interactions kept, the 4th
the target: ``benchmarks/pipeline_quality.py --only cold --tune-sequence --tune-share
0.3``), never on the evaluated users.

Serving (online): :meth:`PipelineRecommender.recommend_one`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.base import InteractionData, ItemFeatures, Recommendations, Recommender
from recommenders.core.pipeline.candidates import (
    SOURCES,
    CandidateGenerator,
    Candidates,
    UserState,
)
from recommenders.core.pipeline.cold_start import DemographicPreferences, cold_user_scores
from recommenders.core.pipeline.features import candidate_features, feature_names, next_at
from recommenders.core.pipeline.ranking import MLPRanker, sample_groups
from recommenders.core.pipeline.rules import Rules, allowed_mask, apply_rules
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore
from recommenders.core.pipeline.training import ranker_split
from recommenders.core.pipeline.user_state import UserStateMixin
from recommenders.core.two_tower import TwoTowerRecommender
from recommenders.core.two_tower.inputs import Events

Served = list[tuple[int, float, str]]
# the weights of the short-history product of experts (module doc), in expert order
SHORT_HISTORY_WEIGHTS = (
    "sequence_weight",
    "early_cooccurrence_weight",
    "demographic_weight",
    "early_trend_weight",
)


class PipelineRecommender(UserStateMixin, Recommender):
    """Multi-source candidates -> MLP ranking -> business rules, with cold start.

    Parameters: ``two_tower`` and ``item_cf`` (parameter dicts of those models),
    ``quotas`` (per source, see ``candidates.DEFAULT_QUOTAS``), ``n_candidates``,
    ``recent_items`` and ``recency_decay`` (item-CF source), ``top_categories``,
    ``demographic_max_history``, ``fresh_max_interactions``, ``trending_half_life_days``,
    ``ranker`` (MLP hyperparameters), ``ranker_users``, ``light_user_share``, ``negatives``,
    ``rules`` (default rules, see ``rules.py``), ``preferred_category_bonus``,
    ``cold_max_per_category``, ``sequence`` (:meth:`NextItemModel.fit` parameters),
    ``early_cooccurrence`` (:meth:`EarlyCooccurrence.fit` parameters), ``early_trend``
    (:meth:`EarlyTrend.fit` parameters), ``sequence_max_history``, ``sequence_weight``,
    ``early_cooccurrence_weight``, ``demographic_weight``, ``early_trend_weight``,
    ``seed``.
    """

    name: ClassVar[str] = "pipeline"
    contract_skip_reason: ClassVar[str] = ""
    default_params: ClassVar[dict[str, Any]] = {
        "two_tower": {},
        "item_cf": {"similarity": "cosine", "neighbours": 100},
        "quotas": {},
        "n_candidates": 500,
        "recent_items": 10,
        "recency_decay": 0.8,
        "top_categories": 3,
        "demographic_max_history": 5,
        "fresh_max_interactions": 5,
        "trending_half_life_days": 7.0,
        "ranker": {
            "hidden": 64,
            "epochs": 40,
            "patience": 4,
            "learning_rate": 0.003,
            "weight_decay": 1e-5,
            "batch_size": 256,
            "threads": 1,
        },
        "ranker_users": 6000,
        "light_user_share": 0.0,
        "negatives": 40,
        "rules": {},
        "preferred_category_bonus": 3.0,
        "cold_max_per_category": 3,
        "sequence": {
            "window": 3,
            "gap_decay": 0.5,
            "early_positions": 10,
            "smoothing": 100.0,
            "history_decay": 0.5,
        },
        "early_cooccurrence": {"early_positions": 12, "smoothing": 20.0, "history_decay": 0.6},
        "sequence_max_history": 5,
        "sequence_weight": 0.5,
        "early_cooccurrence_weight": 1.0,
        "demographic_weight": 1.0,
        "early_trend": {"early_positions": 12, "tau_days": 14.0, "smoothing": 20.0},
        "early_trend_weight": 1.0,
        "seed": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.tower = TwoTowerRecommender(
            **{"seed": self.params["seed"], **self.params["two_tower"]}
        )
        self.store: FeatureStore | None = None
        self.ranker = MLPRanker()
        self.demographic = DemographicPreferences(np.zeros(0, np.float32))
        self.neighbours = sp.csr_matrix((0, 0), dtype=np.float32)
        self.next_items = NextItemModel(sp.csr_matrix((0, 0), dtype=np.float32), np.zeros(0))
        self.early_cooccurrence = EarlyCooccurrence(
            sp.csr_matrix((0, 0), dtype=np.float32), np.zeros(0)
        )
        self.early_trend = EarlyTrend(np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
        self.history_items = np.zeros(0, np.int64)
        self.history_start = np.zeros(1, np.int64)
        self.fresh_items = np.zeros(0, np.int64)
        self.fresh_index: AnnIndex | None = None
        self.generator: CandidateGenerator | None = None

    # --- fitting ---------------------------------------------------------------------
    def _fit(self, data: InteractionData) -> None:
        base, labels = ranker_split(data, self.params["light_user_share"], self.params["seed"])
        self.tower.fit(base)
        self._build_serving_state(base)
        self.ranker = MLPRanker.fit(
            self._ranker_groups(base, labels),
            {**self.default_params["ranker"], **self.params["ranker"], "seed": self.params["seed"]},
        )
        self.tower.refresh(data)
        self._build_serving_state(data)

    def _build_serving_state(self, data: InteractionData) -> None:
        from recommenders.core.registry import create_model

        p = self.params
        self.seen = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        self.seen.eliminate_zeros()
        self.seen.data[:] = 1.0
        self.n_users, self.n_items = data.matrix.shape
        self.item_popularity = np.asarray(self.seen.sum(axis=0), dtype=np.float32).ravel()
        self.neighbours = create_model("item_cf", **p["item_cf"]).fit(data).neighbours
        self.store = FeatureStore.materialise(data, p["trending_half_life_days"])
        self.demographic = DemographicPreferences.fit(self.seen, self.store.user_attr_codes)
        events = Events.from_data(data)
        self.history_items, self.history_start = events.items, events.user_start
        self.next_items = NextItemModel.fit(events, data.n_items, **p["sequence"])
        self.early_cooccurrence = EarlyCooccurrence.fit(
            events, data.n_items, **p["early_cooccurrence"]
        )
        self.early_trend = EarlyTrend.fit(events, data.n_items, **p["early_trend"])
        self._build_fresh_index()
        self._build_generator()

    def _build_fresh_index(self) -> None:
        assert self.store is not None
        fresh = np.flatnonzero(self.store.item_count < self.params["fresh_max_interactions"])
        self.fresh_items = fresh.astype(np.int64)
        self.fresh_index = (
            AnnIndex.build(self.tower.item_vectors[fresh], seed=self.params["seed"])
            if len(fresh)
            else None
        )

    def _build_generator(self) -> None:
        assert self.store is not None
        cats = self.store.item_categories.tocsc()
        category_items = [
            cats.indices[cats.indptr[c] : cats.indptr[c + 1]].astype(np.int64)
            for c in range(cats.shape[1])
        ]
        self.generator = CandidateGenerator(
            self.tower.retrieve,
            self.neighbours,
            category_items,
            self.fresh_index,
            self.fresh_items,
            self.params,
        )

    def _ranker_groups(self, base: InteractionData, labels: sp.csr_matrix) -> np.ndarray:
        """Listwise training groups: the held-out item among the user's candidates, plus
        negatives sampled from the same candidates."""
        rng = np.random.default_rng(self.params["seed"])
        users = np.flatnonzero(np.diff(labels.indptr))
        if len(users) > self.params["ranker_users"]:
            users = np.sort(rng.choice(users, self.params["ranker_users"], replace=False))
        groups = []
        for user in users:
            label = labels.indices[labels.indptr[user]]
            state = self.user_state(int(user))
            if len(state.history) == 0:
                continue
            candidates, features = self._rank_inputs(state, Rules())
            where = np.flatnonzero(candidates.items == label)
            if len(where) == 0:
                continue
            group = sample_groups(features, int(where[0]), self.params["negatives"], rng)
            if group is not None:
                groups.append(group)
        if not groups:
            raise ValueError("pipeline: no training group (no held-out item among candidates)")
        return np.stack(groups)

    # --- ranking ---------------------------------------------------------------------
    def _rank_inputs(self, state: UserState, rules: Rules) -> tuple[Candidates, np.ndarray]:
        store, generator = self.store, self.generator
        assert store is not None and generator is not None
        trend = store.trend_column(state.reference_ts)
        demographic = (
            self.demographic.scores(state.attr_codes)
            if self.demographic.knows(state.attr_codes)
            else None
        )
        next_scores = self._next_scores(state, feature=True)
        source_scores = next_scores if len(state.history) else None
        candidates = generator.generate(state, trend, demographic, self.n_items, source_scores)
        allowed = allowed_mask(candidates.items, rules, store.item_categories)
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

    def _next_scores(self, state: UserState, feature: bool = False) -> np.ndarray | None:
        """The next-item chain's p(j | history) for a user with a history (``feature``:
        also the prior for one without), else None."""
        if self.next_items.n_items == 0 or (len(state.history) == 0 and not feature):
            return None
        return self.next_items.scores(state.history)

    def _early_scores(self, state: UserState) -> np.ndarray | None:
        """The early co-occurrence's p(j | history) over the tracked items, or None for a
        model saved before it existed."""
        if self.early_cooccurrence.n_items == 0:
            return None
        return self.early_cooccurrence.scores(state.history)

    def _blend_weights(self, state: UserState) -> tuple[float, ...]:
        """The weights of :data:`SHORT_HISTORY_WEIGHTS` for a short history, else zeros."""
        short = 0 < len(state.history) <= self.params["sequence_max_history"]
        return tuple(float(self.params[name]) if short else 0.0 for name in SHORT_HISTORY_WEIGHTS)

    def _final_scores(
        self, state: UserState, candidates: Candidates, features: np.ndarray
    ) -> np.ndarray:
        """Ranker scores; for a short history the product of experts of the module doc."""
        scores = self.ranker.predict(features)
        weights = self._blend_weights(state)
        if max(weights) <= 0 or len(scores) == 0:
            return scores
        shifted = scores - scores.max()
        blended = shifted - np.log(np.exp(shifted).sum())
        experts = self._short_history_experts(state, candidates)
        for weight, log_p in zip(weights, experts, strict=True):
            if weight > 0 and log_p is not None:
                blended += weight * log_p
        return blended.astype(np.float32)

    def _short_history_experts(
        self, state: UserState, candidates: Candidates
    ) -> list[np.ndarray | None]:
        """log p(next), log p_early, the demographic log-lift and the early-trend log-lift
        at the candidates (None where the model or the user lacks it), in the order of
        :data:`SHORT_HISTORY_WEIGHTS`."""
        items = candidates.items
        early = self._early_scores(state)
        demographic = None
        if self.demographic.knows(state.attr_codes):
            demographic = self.demographic.scores(state.attr_codes) - self.demographic.log_prior
        trend = None
        if self.early_trend.n_items and state.reference_ts > 0:
            trend = self.early_trend.log_lift(state.reference_ts)
        return [
            np.log(next_at(self._next_scores(state), items)),
            None if early is None else np.log(next_at(early, items)),
            None if demographic is None else _at(demographic, items),
            None if trend is None else _at(trend, items),
        ]

    def recommend_one(
        self,
        user_index: int | None = None,
        k: int = 10,
        context: dict[str, Any] | None = None,
        history: list[int] | None = None,
        preferences: dict[str, Any] | None = None,
        rules: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
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

        ``score`` is the relevance share after the rules' multipliers (softmax of the
        ranker's output over the candidates, blended with the next-item chain for a short
        history); ``source`` names the candidate source (``ann``, ``item_cf``,
        ``category_trending``, ``trending``, ``fresh``, ``demographic``, ``sequence``) or
        the cold-start path (``cold_demographic``, ``cold_popular``).
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        assert self.store is not None
        parsed = Rules.from_dict(
            self.params["rules"] if rules is None else rules, self.store.category_names
        )
        state = self.user_state(user_index, context, history, preferences, attributes)
        state.exclude = np.union1d(state.exclude, parsed.blocked_items)
        if len(state.history) == 0:
            return self._cold(state, k, parsed)
        candidates, features = self._rank_inputs(state, parsed)
        scores = self._final_scores(state, candidates, features)
        items, adjusted, positions = self._apply(candidates.items, scores, k, parsed)
        names = candidates.source_names()
        return [
            (int(i), float(s), names[p]) for i, s, p in zip(items, adjusted, positions, strict=True)
        ]

    def _apply(self, items, scores, k, rules: Rules):
        store = self.store
        assert store is not None
        creators = None
        if rules.trusted_creators and store.creator_names:
            names = np.array([""] + store.creator_names)
            creators = names[store.item_creator]
        return apply_rules(
            items,
            scores,
            k,
            rules,
            store.item_categories,
            store.item_count,
            creators,
            self.tower.item_vectors,
        )

    def _cold(self, state: UserState, k: int, rules: Rules) -> Served:
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
        if rules.max_per_category is None:
            rules.max_per_category = self.params["cold_max_per_category"]
        items, adjusted, _ = self._apply(pool, scores[pool], k, rules)
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

    # --- new items -------------------------------------------------------------------
    def add_items(self, features: ItemFeatures, n_new: int) -> np.ndarray:
        """Add ``n_new`` items with no interactions: the item tower places them from their
        attributes (retrievable at once by ANN and the fresh source); returns their indices."""
        assert self.store is not None
        new = self.tower.add_items(features, n_new)
        categories = (
            features.categories
            if features.categories is not None
            else sp.csr_matrix((n_new, self.store.n_categories))
        )
        created = (
            np.asarray(features.created_at, dtype=np.float64)
            if features.created_at is not None
            else np.full(n_new, np.nan)
        )
        self.store.add_items(sp.csr_matrix(categories), created)
        self.n_items = self.tower.n_items
        self.item_popularity = self.tower.item_popularity
        self.neighbours = sp.csr_matrix(self.neighbours, copy=True)
        self.neighbours.resize((self.n_items, self.n_items))
        if self.seen is not None:
            self.seen.resize((self.seen.shape[0], self.n_items))
        vectors = self.tower.item_vectors[new]
        if self.fresh_index is None:
            self.fresh_index = AnnIndex.build(vectors, seed=self.params["seed"])
        else:
            self.fresh_index.add(vectors)
        self.fresh_items = np.concatenate([self.fresh_items, new])
        self._build_generator()
        return new

    def rebuild_indexes(self) -> None:
        """Rebuild the ANN indexes (all items; fresh items) for the current catalogue size,
        e.g. after many :meth:`add_items`: the kind is chosen again by size and measured."""
        self.tower.build_index()
        self._build_fresh_index()
        self._build_generator()

    # --- persistence ------------------------------------------------------------------
    def _save_state(self, folder: Path) -> None:
        assert self.store is not None
        self.tower.save(folder / "two_tower")
        self.store.save(folder)
        self.ranker.save(folder)
        sp.save_npz(folder / "neighbours.npz", self.neighbours)
        np.savez(
            folder / "pipeline_state.npz",
            history_items=self.history_items,
            history_start=self.history_start,
            fresh_items=self.fresh_items,
            **self.demographic.arrays(),
            **self.next_items.arrays(),
            **self.early_cooccurrence.arrays(),
            **self.early_trend.arrays(),
        )
        if self.fresh_index is not None:
            self.fresh_index.save(folder / "fresh_index")
        meta = {"feature_names": feature_names(self.store), "sources": list(SOURCES)}
        (folder / "pipeline.json").write_text(json.dumps(meta, indent=2))

    def _load_state(self, folder: Path) -> None:
        self.tower = TwoTowerRecommender.load(folder / "two_tower")  # type: ignore[assignment]
        self.store = FeatureStore.load(folder)
        self.ranker = MLPRanker.load(folder)
        self.neighbours = sp.csr_matrix(sp.load_npz(folder / "neighbours.npz"))
        with np.load(folder / "pipeline_state.npz") as state:
            self.history_items = state["history_items"]
            self.history_start = state["history_start"]
            self.fresh_items = state["fresh_items"]
            self.demographic = DemographicPreferences.from_arrays(
                {name: state[name] for name in state.files if name.startswith("log_")}
            )
            self.next_items = NextItemModel.from_arrays(
                {name: state[name] for name in state.files if name.startswith("next_")}
            )
            arrays = {name: state[name] for name in state.files if name.startswith("early_")}
            # a model saved before these experts existed serves without them
            if "early_prior" in arrays:
                self.early_cooccurrence = EarlyCooccurrence.from_arrays(arrays)
            if "early_trend_times" in arrays:
                self.early_trend = EarlyTrend.from_arrays(arrays)
        if (folder / "fresh_index").exists():
            self.fresh_index = AnnIndex.load(folder / "fresh_index")
        self.n_items = self.tower.n_items
        self._build_generator()


def _at(values: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``values`` at ``items``, 0 for items beyond the tracked ones (added after fitting)."""
    tracked = items < len(values)
    return np.where(tracked, values[np.where(tracked, items, 0)], 0.0)
