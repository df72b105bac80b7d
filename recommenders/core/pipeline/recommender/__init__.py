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
after their latest ones) and its log-probability as a ranking feature. Users with a short
history (at most ``sequence_max_history`` items) have a final score that blends the
ranker's softmax with a product of experts (:mod:`.blend`).

Serving (online): :meth:`PipelineRecommender.recommend_one`.

Composition, not inheritance: the fitted state is one value, :class:`.state.FittedPipeline`,
and each step is a plain function whose signature says what it reads and returns:
:func:`.fitting.fit_pipeline` (fit: serving state, ranker training groups),
:func:`.serving.serve_one` (one request: ranking inputs, the short-history blend of
:mod:`.blend`, the business rules, cold start; and the batch interface),
:func:`.catalogue.add_items` (new items), :func:`.persistence.save_fitted` /
:func:`.persistence.load_fitted`, and :func:`recommenders.core.pipeline.user_state.user_state`.
:class:`PipelineRecommender` is the :class:`~recommenders.core.base.Recommender` around
that value (``model.fitted``); it is defined here, so its module path is the one it had as
a single module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recommenders.core.base import ItemFeatures, Recommendations, Recommender, Served
from recommenders.core.item_catalogue import ItemCatalogue
from recommenders.core.pipeline.candidates import UserState
from recommenders.core.pipeline.recommender import catalogue as growth
from recommenders.core.pipeline.recommender import fitting, persistence, serving
from recommenders.core.pipeline.recommender.blend import SHORT_HISTORY_WEIGHTS
from recommenders.core.pipeline.recommender.serving import ServingRequest
from recommenders.core.pipeline.recommender.state import FittedPipeline
from recommenders.core.pipeline.user_state import user_state

__all__ = [
    "SHORT_HISTORY_WEIGHTS",
    "FittedPipeline",
    "PipelineRecommender",
    "Served",
    "ServingRequest",
]


class PipelineRecommender(Recommender):
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
        self.fitted: FittedPipeline | None = None

    @property
    def state(self) -> FittedPipeline:
        """The fitted state (ValueError before fitting or loading)."""
        if self.fitted is None:
            raise ValueError("pipeline: not fitted")
        return self.fitted

    def _use(self, fitted: FittedPipeline) -> None:
        """Hold ``fitted`` and mirror what the base class reads (seen items, sizes,
        popularity) from it."""
        self.fitted = fitted
        self.seen = fitted.seen
        self.n_users, self.n_items = fitted.n_users, fitted.n_items
        self.item_popularity = fitted.item_popularity

    # --- fit, save, load ---------------------------------------------------------------
    def _fit(self, data: Any) -> None:
        self._use(fitting.fit_pipeline(self.params, self.default_params, data))

    def _save_state(self, folder: Path) -> None:
        persistence.save_fitted(self.state, folder)

    def _load_state(self, folder: Path) -> None:
        self._use(persistence.load_fitted(self.params, folder, self.seen, self.item_popularity))

    # --- serving -----------------------------------------------------------------------
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
        """One request end to end (:func:`.serving.serve_one`, which documents each
        argument)."""
        request = ServingRequest(
            user_index, k, context, history, preferences, rules, attributes, catalogue
        )
        return serving.serve_one(self.state, request)

    def item_catalogue(self) -> ItemCatalogue:
        return serving.item_catalogue(self.state)

    def user_state(
        self,
        user_index: int | None,
        context: dict[str, Any] | None = None,
        history: list[int] | np.ndarray | None = None,
        preferences: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
    ) -> UserState:
        """What the model knows about a user at request time."""
        return user_state(self.state, user_index, context, history, preferences, attributes)

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
        return serving.recommend_batch(self.state, users, k)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return serving.score_users(self.state, user_indices)

    def score(self, user_index: int, item_indices: np.ndarray | list[int]) -> np.ndarray:
        """Ranker scores of the given items for one user (no rules), via the features."""
        items = np.asarray(item_indices, dtype=np.int64)
        return serving.score_items(self.state, user_index, items)

    # --- catalogue growth ------------------------------------------------------------
    def add_items(self, features: ItemFeatures, n_new: int) -> np.ndarray:
        """Add ``n_new`` items with no interactions (:func:`.catalogue.add_items`);
        returns their indices."""
        grown, new = growth.add_items(self.state, features, n_new)
        self._use(grown)
        return new

    def rebuild_indexes(self) -> None:
        """Rebuild the ANN indexes for the current catalogue
        (:func:`.catalogue.rebuild_indexes`)."""
        self._use(growth.rebuild_indexes(self.state))
