"""Fitting: the towers, the serving state and the ranker's training groups (steps 1-3 of
the package doc), as plain functions returning a :class:`.state.FittedPipeline`.

:func:`fit_pipeline` builds the serving state twice (:func:`serving_state`): on the
ranker's base data, whose state the ranker's training groups are read from
(:func:`ranker_groups`), then on all the training data with the trained ranker.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.ranking import MLPRanker, sample_groups
from recommenders.core.pipeline.recommender.serving import rank_inputs
from recommenders.core.pipeline.recommender.state import (
    FittedPipeline,
    candidate_generator,
    fresh_items_index,
)
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore
from recommenders.core.pipeline.training import ranker_split
from recommenders.core.pipeline.user_state import user_state
from recommenders.core.rules import Rules
from recommenders.core.two_tower.inputs import Events


def fit_pipeline(
    params: dict[str, Any], default_params: dict[str, Any], data: InteractionData
) -> FittedPipeline:
    """Fit every part on ``data`` (``params`` complete; ``default_params`` supplies the
    ranker hyperparameters that ``params["ranker"]`` leaves out)."""
    from recommenders.core.two_tower import TwoTowerRecommender

    base, labels = ranker_split(data, params["light_user_share"], params["seed"])
    tower = TwoTowerRecommender(**{"seed": params["seed"], **params["two_tower"]})
    tower.fit(base)
    on_base = serving_state(params, tower, MLPRanker(), base)
    ranker = MLPRanker.fit(
        ranker_groups(on_base, labels),
        {**default_params["ranker"], **params["ranker"], "seed": params["seed"]},
    )
    tower.refresh(data)
    return serving_state(params, tower, ranker, data)


def serving_state(
    params: dict[str, Any], tower: Any, ranker: MLPRanker, data: InteractionData
) -> FittedPipeline:
    """Histories, item-CF neighbours, next-item chain, early experts, feature store,
    demographic preferences and ANN indexes built on ``data``, around a fitted ``tower``
    and ``ranker``."""
    from recommenders.core.registry import create_model

    seen = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
    seen.eliminate_zeros()
    seen.data[:] = 1.0
    neighbours = create_model("item_cf", **params["item_cf"]).fit(data).neighbours
    store = FeatureStore.materialise(data, params["trending_half_life_days"])
    demographic = DemographicPreferences.fit(seen, store.user_attr_codes)
    events = Events.from_data(data)
    next_items = NextItemModel.fit(events, data.n_items, **params["sequence"])
    early_cooccurrence = EarlyCooccurrence.fit(events, data.n_items, **params["early_cooccurrence"])
    early_trend = EarlyTrend.fit(events, data.n_items, **params["early_trend"])
    fresh_items, fresh_index = fresh_items_index(params, store, tower)
    return FittedPipeline(
        params=params,
        tower=tower,
        store=store,
        ranker=ranker,
        seen=seen,
        n_users=data.matrix.shape[0],
        n_items=data.matrix.shape[1],
        item_popularity=np.asarray(seen.sum(axis=0), dtype=np.float32).ravel(),
        neighbours=neighbours,
        demographic=demographic,
        history_items=events.items,
        history_start=events.user_start,
        next_items=next_items,
        early_cooccurrence=early_cooccurrence,
        early_trend=early_trend,
        fresh_items=fresh_items,
        fresh_index=fresh_index,
        generator=candidate_generator(params, store, tower, neighbours, fresh_index, fresh_items),
    )


def ranker_groups(fitted: FittedPipeline, labels: sp.csr_matrix) -> np.ndarray:
    """Listwise training groups: each user's held-out item (``labels``) among their
    candidates in ``fitted`` (built on the base data), plus negatives sampled from the same
    candidates."""
    params = fitted.params
    rng = np.random.default_rng(params["seed"])
    users = np.flatnonzero(np.diff(labels.indptr))
    if len(users) > params["ranker_users"]:
        users = np.sort(rng.choice(users, params["ranker_users"], replace=False))
    groups = []
    for user_index in users:
        label = labels.indices[labels.indptr[user_index]]
        user = user_state(fitted, int(user_index))
        if len(user.history) == 0:
            continue
        candidates, features = rank_inputs(fitted, user, Rules())
        where = np.flatnonzero(candidates.items == label)
        if len(where) == 0:
            continue
        group = sample_groups(features, int(where[0]), params["negatives"], rng)
        if group is not None:
            groups.append(group)
    if not groups:
        raise ValueError("pipeline: no training group (no held-out item among candidates)")
    return np.stack(groups)
