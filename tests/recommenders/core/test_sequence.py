"""The next-item chain (short histories): golden numbers on a planted sequence, and its use
by the pipeline for users with a short history."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommenders.core.base import InteractionData
from recommenders.core.pipeline.recommender import SHORT_HISTORY_WEIGHTS
from recommenders.core.pipeline.recommender.blend import (
    blend_weights,
    final_scores,
    next_scores,
    short_history_experts,
)
from recommenders.core.pipeline.recommender.serving import rank_inputs
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
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


def test_early_cooccurrence_counts_users_by_hand():
    model = EarlyCooccurrence.fit(planted_events(), 5, early_positions=2)
    c = model.cooccurrence.toarray()
    # first two items: {0, 1} for three users, {0, 3} for one; item 2 is never early
    assert c[0].tolist() == pytest.approx([0, 3, 0, 1, 0])
    assert c[1].tolist() == pytest.approx([3, 0, 0, 0, 0])
    assert c[3].tolist() == pytest.approx([1, 0, 0, 0, 0])
    assert np.array_equal(c, c.T) and not c.diagonal().any()
    # users per early item: 0 x4, 1 x3, 3 x1; +1 smoothing over 5 items -> / 13
    assert model.prior.tolist() == pytest.approx(np.array([5, 4, 1, 2, 1]) / 13)


def test_early_cooccurrence_scores_are_the_smoothed_mixture():
    model = EarlyCooccurrence.fit(
        planted_events(), 5, early_positions=3, smoothing=2.0, history_decay=0.5
    )
    q = model.prior
    c = model.cooccurrence.toarray()
    from_1 = (c[1] + 2.0 * q) / (c[1].sum() + 2.0)
    from_3 = (c[3] + 2.0 * q) / (c[3].sum() + 2.0)
    mixed = model.scores(np.array([1, 3]))  # latest is 3 (weight 1), then 1 (weight 0.5)
    assert mixed == pytest.approx((from_3 + 0.5 * from_1) / 1.5, rel=1e-5)
    assert float(mixed.sum()) == pytest.approx(1.0, rel=1e-5)
    assert model.scores(np.zeros(0, np.int64)) == pytest.approx(q)
    # tie order does not matter: the counts are over sets of early items
    again = EarlyCooccurrence.from_arrays(model.arrays())
    assert again.scores(np.array([1, 3])) == pytest.approx(mixed)


def test_early_trend_lift_by_hand_and_without_look_ahead():
    day = 86400.0
    model = EarlyTrend.fit(planted_events(), 5, early_positions=2, tau_days=1.0, smoothing=2.0)
    # early events: item 0 at t=1 (x4), item 1 at t=2 (x3), item 3 at t=2 (x1)
    assert model.times.tolist() == sorted(model.times.tolist())
    q = model.prior
    assert q.tolist() == pytest.approx(np.array([5, 4, 1, 2, 1]) / 13)
    at = 2.0 + day  # one tau after t=2, so within the 3-tau window of every event
    w1, w2 = np.exp(-(at - 1.0) / day), np.exp(-(at - 2.0) / day)
    counts = np.array([4 * w1, 3 * w2, 0.0, w2, 0.0])
    p = (counts + 2.0 * q) / (counts.sum() + 2.0)
    assert model.log_lift(at) == pytest.approx(np.log(p) - np.log(q), rel=1e-4, abs=1e-5)
    # at t=1 only the events at t=1 exist: no look-ahead to item 1 and 3
    lift = model.log_lift(1.0)
    assert lift[0] > 0 and lift[1] < 0 and lift[3] < 0
    assert model.log_lift(0.5).tolist() == [0.0] * 5  # nothing before
    assert model.log_lift(at + 10 * day).tolist() == [0.0] * 5  # beyond the window
    again = EarlyTrend.from_arrays(model.arrays())
    assert again.log_lift(at) == pytest.approx(model.log_lift(at))


def test_the_pipeline_blends_the_chain_only_for_short_histories():
    model = fitted_pipeline()
    short = model.user_state(None, history=[0, 1, 2])
    assert next_scores(model.state.next_items, short) is not None
    names = SHORT_HISTORY_WEIGHTS
    weights = tuple(model.params[name] for name in names)
    assert blend_weights(model.state.params, short) == weights and min(weights) > 0
    long_history = list(range(model.params["sequence_max_history"] + 1))
    assert (
        blend_weights(model.state.params, model.user_state(None, history=long_history)) == (0,) * 4
    )
    empty = model.user_state(None, history=[])
    assert (
        next_scores(model.state.next_items, empty) is None
    )  # no sequence source without a history
    assert next_scores(model.state.next_items, empty, feature=True) == pytest.approx(
        model.state.next_items.prior
    )
    candidates, features = rank_inputs(model.state, short, _no_rules(model))
    blended = final_scores(model.state, short, candidates, features)
    plain = model.state.ranker.predict(features)
    assert np.isfinite(blended).all() and not np.allclose(blended, plain)
    served = model.recommend_one(None, 10, history=[0, 1, 2])
    assert len(served) == 10 and not {0, 1, 2} & {item for item, _, _ in served}
    params = dict(model.params)
    try:
        model.params.update(dict.fromkeys(names, 0.0))
        assert np.array_equal(final_scores(model.state, short, candidates, features), plain)
        model.params["early_cooccurrence_weight"] = 1.0
        early = final_scores(model.state, short, candidates, features)
        p_early = model.state.early_cooccurrence.scores(short.history)[candidates.items]
        shifted = plain - plain.max()
        log_softmax = shifted - np.log(np.exp(shifted).sum())
        assert early == pytest.approx(log_softmax + np.log(p_early), rel=1e-4, abs=1e-4)
    finally:
        model.params.clear()
        model.params.update(params)


def _no_rules(model):
    from recommenders.core.rules import Rules

    return Rules.from_dict({}, model.state.store.category_names)


def test_the_demographic_lift_joins_the_blend_only_when_demographics_are_known():
    model = fitted_pipeline()
    names = SHORT_HISTORY_WEIGHTS
    attributes = {"gender": "F", "age_band": "25-34"}
    known = model.user_state(None, history=[0, 1, 2], attributes=attributes)
    unknown = model.user_state(None, history=[0, 1, 2])
    assert model.state.demographic.knows(known.attr_codes)
    assert not model.state.demographic.knows(unknown.attr_codes)
    candidates, features = rank_inputs(model.state, known, _no_rules(model))
    assert short_history_experts(model.state, unknown, candidates)[2] is None
    lift = model.state.demographic.scores(known.attr_codes) - model.state.demographic.log_prior
    assert short_history_experts(model.state, known, candidates)[2] == pytest.approx(
        lift[candidates.items]
    )
    params = dict(model.params)
    try:
        model.params.update(dict.fromkeys(names, 0.0))
        plain = final_scores(model.state, known, candidates, features)
        model.params["demographic_weight"] = 1.0
        blended = final_scores(model.state, known, candidates, features)
        shifted = plain - plain.max()
        log_softmax = shifted - np.log(np.exp(shifted).sum())
        expected = log_softmax + lift[candidates.items]
        assert blended == pytest.approx(expected, rel=1e-4, abs=1e-4)
    finally:
        model.params.clear()
        model.params.update(params)


def test_a_pipeline_saved_without_the_early_cooccurrence_still_serves(tmp_path):
    model = fitted_pipeline()
    model.save(tmp_path / "pipe")
    state_file = tmp_path / "pipe" / "pipeline_state.npz"
    with np.load(state_file) as state:
        kept = {name: state[name] for name in state.files if not name.startswith("early_")}
    np.savez(state_file, **kept)
    loaded = type(model).load(tmp_path / "pipe")
    assert loaded.state.early_cooccurrence.n_items == 0 and loaded.state.early_trend.n_items == 0
    served = loaded.recommend_one(None, 10, history=[0, 1, 2])
    assert len(served) == 10 and not {0, 1, 2} & {item for item, _, _ in served}


def test_the_early_trend_lift_joins_the_blend_at_the_request_time():
    model = fitted_pipeline()
    state = model.user_state(None, history=[0, 1, 2])  # at the data's latest time
    candidates, features = rank_inputs(model.state, state, _no_rules(model))
    lift = model.state.early_trend.log_lift(state.reference_ts)
    assert np.abs(lift).max() > 0.1
    before = model.user_state(None, history=[0, 1, 2], context={"timestamp": 1.7e9})
    assert not short_history_experts(model.state, before, candidates)[3].any()  # no event yet
    assert short_history_experts(model.state, state, candidates)[3] == pytest.approx(
        lift[candidates.items]
    )
    params = dict(model.params)
    try:
        model.params.update(dict.fromkeys(SHORT_HISTORY_WEIGHTS, 0.0))
        plain = final_scores(model.state, state, candidates, features)
        model.params["early_trend_weight"] = 1.0
        blended = final_scores(model.state, state, candidates, features)
        shifted = plain - plain.max()
        expected = shifted - np.log(np.exp(shifted).sum()) + lift[candidates.items]
        assert blended == pytest.approx(expected, rel=1e-4, abs=1e-4)
    finally:
        model.params.clear()
        model.params.update(params)
