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

The class is assembled from mixins, one module each: :mod:`.fitting` (fit, serving
state, ranker training groups), :mod:`.serving` (ranking inputs, ``recommend_one``,
cold start, the batch interface), :mod:`.blend` (the short-history blend),
:mod:`.catalogue` (new items), :mod:`.persistence` (save/load), and ``user_state`` from
:mod:`recommenders.core.pipeline.user_state`; :mod:`.state` declares the fitted state
they share. The class itself is defined here, so its module path is the one it had as a
single module.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.base import Recommender
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.candidates import CandidateGenerator
from recommenders.core.pipeline.ranking import MLPRanker
from recommenders.core.pipeline.recommender.blend import SHORT_HISTORY_WEIGHTS
from recommenders.core.pipeline.recommender.catalogue import CatalogueMixin
from recommenders.core.pipeline.recommender.fitting import FittingMixin
from recommenders.core.pipeline.recommender.persistence import PersistenceMixin
from recommenders.core.pipeline.recommender.serving import Served, ServingMixin
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore
from recommenders.core.two_tower import TwoTowerRecommender

__all__ = ["SHORT_HISTORY_WEIGHTS", "PipelineRecommender", "Served"]


class PipelineRecommender(
    FittingMixin, ServingMixin, CatalogueMixin, PersistenceMixin, Recommender
):
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
