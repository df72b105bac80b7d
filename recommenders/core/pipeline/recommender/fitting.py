"""Fitting: the towers, the serving state and the ranker's training groups (steps 1-3 of
the package doc).

A mixin of :class:`PipelineRecommender`. ``_build_serving_state`` (histories, item-CF
neighbours, next-item chain, feature store, ANN indexes) is run twice by ``_fit``: on the
ranker's base data, then on all the training data; ``_build_fresh_index`` and
``_build_generator`` are also run again when the catalogue grows (:mod:`.catalogue`) and
when a saved model is loaded (:mod:`.persistence`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.base import InteractionData
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.candidates import CandidateGenerator
from recommenders.core.pipeline.ranking import MLPRanker, sample_groups
from recommenders.core.pipeline.recommender.state import PipelineState
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore
from recommenders.core.pipeline.training import ranker_split
from recommenders.core.rules import Rules
from recommenders.core.two_tower.inputs import Events


class FittingMixin(PipelineState):
    """``_fit`` and the serving state it builds (needs ``params``, ``default_params``,
    ``tower``, and ``user_state`` and ``_rank_inputs`` of :mod:`.serving` on the model)."""

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
            state = self.user_state(int(user))  # type: ignore[attr-defined]
            if len(state.history) == 0:
                continue
            candidates, features = self._rank_inputs(state, Rules())  # type: ignore[attr-defined]
            where = np.flatnonzero(candidates.items == label)
            if len(where) == 0:
                continue
            group = sample_groups(features, int(where[0]), self.params["negatives"], rng)
            if group is not None:
                groups.append(group)
        if not groups:
            raise ValueError("pipeline: no training group (no held-out item among candidates)")
        return np.stack(groups)
