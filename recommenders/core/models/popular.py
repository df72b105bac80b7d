"""Non-personalised baselines: most popular (global or within a category) and trending.

    popular:  s_i = |{u : r_ui > 0}|                       (users per item)
    trending: s_i = sum_{(u,i,t)} 2^{-(t_ref - t) / h}     (time-decayed counts)

``t_ref`` is the latest training timestamp unless given, ``h`` the half-life in days.
Every user gets the same ranking (minus the items they have seen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recommenders.core.base import InteractionData, Recommender

SECONDS_PER_DAY = 86_400.0


class _GlobalScores(Recommender):
    """One score vector shared by every user."""

    personalised: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.item_scores = np.zeros(0, np.float32)

    def cold_mask(self, user_indices: np.ndarray) -> np.ndarray:
        """No user is cold: the global ranking answers everyone (it is the fallback)."""
        return np.zeros(len(super().cold_mask(user_indices)), dtype=bool)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return np.tile(self.item_scores, (len(user_indices), 1))

    def _save_state(self, folder: Path) -> None:
        np.save(folder / "item_scores.npy", self.item_scores)

    def _load_state(self, folder: Path) -> None:
        self.item_scores = np.load(folder / "item_scores.npy")


class PopularRecommender(_GlobalScores):
    """Most popular items: number of distinct users per item.

    ``category`` (a name from ``ItemFeatures.category_names``) restricts the ranking to
    that category's items (others score -inf and are never recommended).
    """

    name = "popular"
    default_params: ClassVar[dict[str, Any]] = {"category": None}

    def _fit(self, data: InteractionData) -> None:
        scores = self.item_popularity.astype(np.float32).copy()
        category = self.params["category"]
        if category is not None:
            features = data.item_features
            if features is None or features.categories is None:
                raise ValueError("popular: category given but the data has no item categories")
            if category not in features.category_names:
                raise ValueError(
                    f"popular: unknown category {category!r}; known: {features.category_names}"
                )
            column = features.category_names.index(category)
            member = features.categories[:, column].toarray().ravel() > 0
            scores[~member] = -np.inf
        self.item_scores = scores


class TrendingRecommender(_GlobalScores):
    """Time-decayed interaction counts with a half-life of ``half_life_days``.

    ``reference_time`` (unix seconds) defaults to the latest training timestamp; without
    timestamps every interaction weighs 1 (plain counts).
    """

    name = "trending"
    default_params: ClassVar[dict[str, Any]] = {"half_life_days": 30.0, "reference_time": None}

    def _fit(self, data: InteractionData) -> None:
        if self.params["half_life_days"] <= 0:
            raise ValueError("trending: half_life_days must be positive")
        pattern = data.matrix.tocoo()
        if data.timestamps is None:
            weights = np.ones(pattern.nnz)
        else:
            times = data.timestamps.tocoo()
            reference = self.params["reference_time"]
            reference = times.data.max() if reference is None else float(reference)
            age_days = np.maximum(reference - times.data, 0.0) / SECONDS_PER_DAY
            weights = np.exp2(-age_days / self.params["half_life_days"])
            pattern = times
        scores = np.bincount(pattern.col, weights=weights, minlength=data.n_items)
        # a tiny popularity term orders items whose decayed weight underflows to zero
        self.item_scores = (scores + 1e-9 * self.item_popularity).astype(np.float32)
