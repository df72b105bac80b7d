"""Persistence: the pipeline's state in a model folder (``_save_state``, ``_load_state``).

A mixin of :class:`PipelineRecommender`; :meth:`Recommender.save` writes ``model.json``
and calls ``_save_state``. The folder holds ``two_tower/`` (a saved two-tower model), the
feature store's files, ``ranker.npz``, ``neighbours.npz``, ``pipeline_state.npz``
(histories, fresh items, demographic, next-item, early co-occurrence and early-trend
arrays), ``fresh_index/`` when there are fresh items, and ``pipeline.json`` (feature names
and sources). Nothing is pickled: :func:`registry.load_model` finds the class by the
model name in ``model.json``. A model saved before the early co-occurrence or the early
trend existed loads and serves without them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.candidates import SOURCES
from recommenders.core.pipeline.features import feature_names
from recommenders.core.pipeline.ranking import MLPRanker
from recommenders.core.pipeline.recommender.state import PipelineState
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore
from recommenders.core.two_tower import TwoTowerRecommender


class PersistenceMixin(PipelineState):
    """``_save_state`` and ``_load_state`` (needs the fitted state of :mod:`.fitting` and
    its ``_build_generator`` on the model)."""

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
        self.tower = TwoTowerRecommender.load(folder / "two_tower")
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
        self._build_generator()  # type: ignore[attr-defined]
