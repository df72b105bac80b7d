"""What a fitted pipeline holds: one value, :class:`FittedPipeline`, read by plain functions.

Built by :func:`.fitting.fit_pipeline` (or :func:`.persistence.load_fitted`), read by
:func:`.serving.serve_one` and the functions it calls, grown by
:func:`.catalogue.add_items` (which returns a new value). A function's signature says which
part it reads: the whole value where a step needs most of it, the parts otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.candidates import CandidateGenerator
from recommenders.core.pipeline.ranking import MLPRanker
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore


@dataclass(frozen=True)
class FittedPipeline:
    """The fitted state of a ``pipeline`` model.

    ``tower`` is a fitted :class:`~recommenders.core.two_tower.TwoTowerRecommender` (its
    item vectors and ANN index), ``store`` the feature store, ``ranker`` the MLP ranker;
    ``seen`` (users x items, 1 per interaction), ``item_popularity`` and ``neighbours``
    (item-CF) come from the training data; ``history_items[history_start[u]:
    history_start[u + 1]]`` is user u's history, oldest first; ``fresh_items`` (indices)
    and ``fresh_index`` (ANN over their vectors) the items with few interactions;
    ``generator`` the candidate sources built on all of them.
    """

    params: dict[str, Any]
    tower: Any  # TwoTowerRecommender (imported lazily with torch)
    store: FeatureStore
    ranker: MLPRanker
    seen: sp.csr_matrix
    n_users: int
    n_items: int
    item_popularity: np.ndarray
    neighbours: sp.csr_matrix
    demographic: DemographicPreferences
    history_items: np.ndarray
    history_start: np.ndarray
    next_items: NextItemModel
    early_cooccurrence: EarlyCooccurrence
    early_trend: EarlyTrend
    fresh_items: np.ndarray
    fresh_index: AnnIndex | None
    generator: CandidateGenerator

    def history(self, user_index: int) -> np.ndarray:
        """The fitted history of a known user, oldest first."""
        return self.history_items[
            self.history_start[user_index] : self.history_start[user_index + 1]
        ]


def candidate_generator(
    params: dict[str, Any],
    store: FeatureStore,
    tower: Any,
    neighbours: sp.csr_matrix,
    fresh_index: AnnIndex | None,
    fresh_items: np.ndarray,
) -> CandidateGenerator:
    """The candidate sources over the current catalogue (rebuilt when it grows or loads)."""
    cats = store.item_categories.tocsc()
    category_items = [
        cats.indices[cats.indptr[c] : cats.indptr[c + 1]].astype(np.int64)
        for c in range(cats.shape[1])
    ]
    return CandidateGenerator(
        tower.retrieve, neighbours, category_items, fresh_index, fresh_items, params
    )


def fresh_items_index(
    params: dict[str, Any], store: FeatureStore, tower: Any
) -> tuple[np.ndarray, AnnIndex | None]:
    """Items with fewer than ``fresh_max_interactions`` interactions, and an ANN index over
    their tower vectors (None when there are none)."""
    fresh = np.flatnonzero(store.item_count < params["fresh_max_interactions"]).astype(np.int64)
    index = AnnIndex.build(tower.item_vectors[fresh], seed=params["seed"]) if len(fresh) else None
    return fresh, index
