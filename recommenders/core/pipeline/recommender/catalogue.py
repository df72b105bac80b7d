"""Catalogue growth: items added after fitting, and rebuilding the ANN indexes for them.

A mixin of :class:`PipelineRecommender`: a new item has no interactions, so the item
tower places it from its attributes, and it is retrievable at once by ANN and the fresh
source.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.base import ItemFeatures
from recommenders.core.pipeline.recommender.state import PipelineState


class CatalogueMixin(PipelineState):
    """``add_items`` and ``rebuild_indexes`` (needs ``params``, ``tower``, ``store``,
    ``neighbours``, ``seen``, the fresh index and ``_build_fresh_index`` and
    ``_build_generator`` of :mod:`.fitting` on the model)."""

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
        self._build_generator()  # type: ignore[attr-defined]
        return new

    def rebuild_indexes(self) -> None:
        """Rebuild the ANN indexes (all items; fresh items) for the current catalogue size,
        e.g. after many :meth:`add_items`: the kind is chosen again by size and measured."""
        self.tower.build_index()
        self._build_fresh_index()  # type: ignore[attr-defined]
        self._build_generator()  # type: ignore[attr-defined]
