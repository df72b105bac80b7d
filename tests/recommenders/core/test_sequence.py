"""The next-item chain (short histories): golden numbers on a planted sequence, and its use
by the pipeline for users with a short history."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommenders.core.base import InteractionData
from recommenders.core.pipeline.sequence import NextItemModel
from recommenders.core.two_tower.inputs import Events
from tests.recommenders.core._pipeline_data import fitted_pipeline


def planted_events() -> Events:
    """Three users who watch 0 -> 1 -> 2, one who watches 0 -> 3, over 5 items."""
    rows = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    items = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 3]
    times = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]
    shape = (4, 5)
    data = InteractionData(
        matrix=sp.csr_matrix((np.ones(len(rows)), (rows, items)), shape=shape),
        timestamps=sp.csr_matrix((np.asarray(times, float), (rows, items)), shape=shape),
    )
    return Events.from_data(data)


def test_transitions_and_early_prior_by_hand():
    model = NextItemModel.fit(planted_events(), 5, window=2, gap_decay=0.5, early_positions=2)
    t = model.transitions.toarray()
    # 0 -> 1 three times, 0 -> 3 once; 0 -> 2 three times at gap 2 (weight 0.5)
    assert t[0].tolist() == pytest.approx([0, 3, 1.5, 1, 0])
    assert t[1].tolist() == pytest.approx([0, 0, 3, 0, 0])
    # positions 0-1: item 0 x4, item 1 x3, item 3 x1; +1 smoothing over 5 items -> / 13
    assert model.prior.tolist() == pytest.approx(np.array([5, 4, 1, 2, 1]) / 13)


def test_scores_are_the_smoothed_mixture_and_sum_to_one():
    model = NextItemModel.fit(
        planted_events(), 5, window=1, early_positions=2, smoothing=2.0, history_decay=0.5
    )
    q = model.prior
    p = model.scores(np.array([1]))
    expected = (np.array([0, 0, 3, 0, 0]) + 2.0 * q) / (3 + 2.0)
    assert p == pytest.approx(expected, rel=1e-5)
    mixed = model.scores(np.array([1, 0]))  # latest is 0 (weight 1), then 1 (weight 0.5)
    from_0 = (np.array([0, 3, 0, 1, 0]) + 2.0 * q) / (4 + 2.0)
    assert mixed == pytest.approx((from_0 + 0.5 * expected) / 1.5, rel=1e-5)
    assert float(mixed.sum()) == pytest.approx(1.0, rel=1e-5)
    assert model.scores(np.zeros(0, np.int64)) == pytest.approx(q)
    assert model.scores(np.array([99])) == pytest.approx(q)  # beyond the tracked items


def test_round_trip_through_arrays():
    model = NextItemModel.fit(planted_events(), 5)
    again = NextItemModel.from_arrays(model.arrays())
    history = np.array([0, 1])
    assert again.scores(history) == pytest.approx(model.scores(history))


def test_the_pipeline_blends_the_chain_only_for_short_histories():
    model = fitted_pipeline()
    short = model.user_state(None, history=[0, 1, 2])
    assert model._next_scores(short) is not None
    assert model._blend_weight(short) == model.params["sequence_weight"] > 0
    long_history = list(range(model.params["sequence_max_history"] + 1))
    assert model._blend_weight(model.user_state(None, history=long_history)) == 0.0
    empty = model.user_state(None, history=[])
    assert model._next_scores(empty) is None  # no sequence source without a history
    assert model._next_scores(empty, feature=True) == pytest.approx(model.next_items.prior)
    candidates, features = model._rank_inputs(short, _no_rules(model))
    blended = model._final_scores(short, candidates, features)
    plain = model.ranker.predict(features)
    assert np.isfinite(blended).all() and not np.allclose(blended, plain)
    served = model.recommend_one(None, 10, history=[0, 1, 2])
    assert len(served) == 10 and not {0, 1, 2} & {item for item, _, _ in served}
    weight = model.params["sequence_weight"]
    try:
        model.params["sequence_weight"] = 0.0
        assert np.array_equal(model._final_scores(short, candidates, features), plain)
    finally:
        model.params["sequence_weight"] = weight


def _no_rules(model):
    from recommenders.core.pipeline.rules import Rules

    return Rules.from_dict({}, model.store.category_names)
