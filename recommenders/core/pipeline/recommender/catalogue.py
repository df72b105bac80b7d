"""Catalogue growth: items added after fitting, and rebuilding the ANN indexes for them.

A new item has no interactions, so the item tower places it from its attributes, and it is
retrievable at once by ANN and the fresh source. Both functions return a new
:class:`.state.FittedPipeline`; the tower and the feature store it holds grow in place.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.base import ItemFeatures
from recommenders.core.pipeline.recommender.state import (
    FittedPipeline,
    candidate_generator,
    fresh_items_index,
)


def add_items(
    fitted: FittedPipeline, features: ItemFeatures, n_new: int
) -> tuple[FittedPipeline, np.ndarray]:
    """Add ``n_new`` items with no interactions: the item tower places them from their
    attributes (retrievable at once by ANN and the fresh source); returns the grown state
    and the new items' indices."""
    store, tower = fitted.store, fitted.tower
    new = tower.add_items(features, n_new)
    categories = (
        features.categories
        if features.categories is not None
        else sp.csr_matrix((n_new, store.n_categories))
    )
    created = (
        np.asarray(features.created_at, dtype=np.float64)
        if features.created_at is not None
        else np.full(n_new, np.nan)
    )
    store.add_items(sp.csr_matrix(categories), created)
    n_items = tower.n_items
    neighbours = sp.csr_matrix(fitted.neighbours, copy=True)
    neighbours.resize((n_items, n_items))
    seen = sp.csr_matrix(fitted.seen, copy=True)
    seen.resize((seen.shape[0], n_items))
    vectors = tower.item_vectors[new]
    fresh_index = fitted.fresh_index
    if fresh_index is None:
        fresh_index = AnnIndex.build(vectors, seed=fitted.params["seed"])
    else:
        fresh_index.add(vectors)
    fresh_items = np.concatenate([fitted.fresh_items, new])
    grown = replace(
        fitted,
        n_items=n_items,
        item_popularity=tower.item_popularity,
        neighbours=neighbours,
        seen=seen,
        fresh_items=fresh_items,
        fresh_index=fresh_index,
        generator=candidate_generator(
            fitted.params, store, tower, neighbours, fresh_index, fresh_items
        ),
    )
    return grown, new


def rebuild_indexes(fitted: FittedPipeline) -> FittedPipeline:
    """Rebuild the ANN indexes (all items; fresh items) for the current catalogue size,
    e.g. after many :func:`add_items`: the kind is chosen again by size and measured."""
    fitted.tower.build_index()
    fresh_items, fresh_index = fresh_items_index(fitted.params, fitted.store, fitted.tower)
    generator = candidate_generator(
        fitted.params, fitted.store, fitted.tower, fitted.neighbours, fresh_index, fresh_items
    )
    return replace(fitted, fresh_items=fresh_items, fresh_index=fresh_index, generator=generator)
