"""Persistence: a :class:`.state.FittedPipeline` in a model folder (:func:`save_fitted`,
:func:`load_fitted`).

:meth:`Recommender.save` writes ``model.json``, ``seen.npz`` and ``item_popularity.npy``
and calls ``_save_state``, which calls :func:`save_fitted`. The format is the one the
mixin-based pipeline wrote (``tests/recommenders/core/golden`` holds such a folder).
The folder holds ``two_tower/`` (a saved two-tower model), the feature store's files,
``ranker.npz``, ``neighbours.npz``, ``pipeline_state.npz`` (histories, fresh items,
demographic, next-item, early co-occurrence and early-trend arrays), ``fresh_index/`` when
there are fresh items, and ``pipeline.json`` (feature names and sources). Nothing is
pickled: :func:`registry.load_model` finds the class by the model name in ``model.json``.
A model saved before the early co-occurrence or the early trend existed loads and serves
without them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.candidates import SOURCES
from recommenders.core.pipeline.features import feature_names
from recommenders.core.pipeline.ranking import MLPRanker
from recommenders.core.pipeline.recommender.state import FittedPipeline, candidate_generator
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore


def save_fitted(fitted: FittedPipeline, folder: Path) -> None:
    """Write everything but ``seen`` and ``item_popularity`` (the base class writes them)."""
    fitted.tower.save(folder / "two_tower")
    fitted.store.save(folder)
    fitted.ranker.save(folder)
    sp.save_npz(folder / "neighbours.npz", fitted.neighbours)
    np.savez(
        folder / "pipeline_state.npz",
        history_items=fitted.history_items,
        history_start=fitted.history_start,
        fresh_items=fitted.fresh_items,
        **fitted.demographic.arrays(),
        **fitted.next_items.arrays(),
        **fitted.early_cooccurrence.arrays(),
        **fitted.early_trend.arrays(),
    )
    if fitted.fresh_index is not None:
        fitted.fresh_index.save(folder / "fresh_index")
    meta = {"feature_names": feature_names(fitted.store), "sources": list(SOURCES)}
    (folder / "pipeline.json").write_text(json.dumps(meta, indent=2))


def load_fitted(
    params: dict[str, Any],
    folder: Path,
    seen: sp.csr_matrix | None,
    item_popularity: np.ndarray,
) -> FittedPipeline:
    """Read a folder written by :func:`save_fitted` (or by the mixin-based pipeline), with
    ``seen`` and ``item_popularity`` as the base class read them."""
    from recommenders.core.two_tower import TwoTowerRecommender

    tower = TwoTowerRecommender.load(folder / "two_tower")
    store = FeatureStore.load(folder)
    neighbours = sp.csr_matrix(sp.load_npz(folder / "neighbours.npz"))
    with np.load(folder / "pipeline_state.npz") as state:
        arrays = {name: state[name] for name in state.files}
    # a model saved before the early experts existed serves without them
    early = {name: value for name, value in arrays.items() if name.startswith("early_")}
    early_cooccurrence = (
        EarlyCooccurrence.from_arrays(early)
        if "early_prior" in early
        else EarlyCooccurrence(sp.csr_matrix((0, 0), dtype=np.float32), np.zeros(0))
    )
    early_trend = (
        EarlyTrend.from_arrays(early)
        if "early_trend_times" in early
        else EarlyTrend(np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    )
    fresh_index = (
        AnnIndex.load(folder / "fresh_index") if (folder / "fresh_index").exists() else None
    )
    fresh_items = arrays["fresh_items"]
    if seen is None:
        seen = sp.csr_matrix((0, tower.n_items), dtype=np.float32)
    return FittedPipeline(
        params=params,
        tower=tower,
        store=store,
        ranker=MLPRanker.load(folder),
        seen=seen,
        n_users=seen.shape[0],
        n_items=tower.n_items,
        item_popularity=item_popularity,
        neighbours=neighbours,
        demographic=DemographicPreferences.from_arrays(
            {name: value for name, value in arrays.items() if name.startswith("log_")}
        ),
        history_items=arrays["history_items"],
        history_start=arrays["history_start"],
        next_items=NextItemModel.from_arrays(
            {name: value for name, value in arrays.items() if name.startswith("next_")}
        ),
        early_cooccurrence=early_cooccurrence,
        early_trend=early_trend,
        fresh_items=fresh_items,
        fresh_index=fresh_index,
        generator=candidate_generator(params, store, tower, neighbours, fresh_index, fresh_items),
    )
