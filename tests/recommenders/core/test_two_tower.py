"""Two-tower model: losses against hand computations, numpy == torch towers, fit, new items."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from recommenders.core.base import ItemFeatures
from recommenders.core.two_tower import TwoTowerRecommender
from recommenders.core.two_tower.inputs import Events, hour_weekday, popularity_bucket
from recommenders.core.two_tower.losses import pairwise_loss, sampled_softmax_loss
from recommenders.core.two_tower.towers import (
    build_module,
    item_forward_numpy,
    user_forward_numpy,
)
from tests.recommenders.core._pipeline_data import demo_data, fitted_tower


def _tiny_batch():
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    items = torch.tensor([[0.8, 0.6], [0.0, 1.0], [0.8, 0.6]])
    ids = torch.tensor([7, 3, 7])  # rows 0 and 2 share their positive: an accidental hit
    log_q = torch.log(torch.tensor([0.5, 0.25, 0.5]))
    return users, items, ids, log_q


def test_sampled_softmax_applies_log_q_and_removes_accidental_hits():
    users, items, ids, log_q = _tiny_batch()
    temperature = 0.5
    loss = float(sampled_softmax_loss(users, items, ids, log_q, temperature))
    s = users.numpy() @ items.numpy().T / temperature - np.log([0.5, 0.25, 0.5])[None, :]
    expected = []
    for i in range(3):
        valid = [j for j in range(3) if j == i or ids[j] != ids[i]]
        expected.append(-(s[i, i] - np.log(np.exp(s[i, valid]).sum())))
    assert loss == pytest.approx(np.mean(expected), rel=1e-5)


def test_log_q_correction_changes_the_loss_only_through_the_negatives():
    users, items, ids, log_q = _tiny_batch()
    with_q = float(sampled_softmax_loss(users, items, ids, log_q, 1.0))
    without = float(sampled_softmax_loss(users, items, ids, None, 1.0))
    uniform = float(sampled_softmax_loss(users, items, ids, torch.full((3,), -1.1), 1.0))
    assert without == pytest.approx(uniform, rel=1e-6)  # a constant log q cancels out
    assert with_q != pytest.approx(without)


def test_pairwise_loss_matches_its_formula():
    users, items, ids, _ = _tiny_batch()
    temperature = 0.2
    loss = float(pairwise_loss(users, items, ids, temperature))
    s = users.numpy() @ items.numpy().T
    terms = [
        np.log1p(np.exp(-(s[i, i] - s[i, j]) / temperature))
        for i in range(3)
        for j in range(3)
        if j != i and ids[j] != ids[i]
    ]
    assert loss == pytest.approx(np.mean(terms), rel=1e-5)


def test_numpy_towers_equal_the_torch_towers():
    sizes = {
        "users": 5,
        "items": 6,
        "attr_rows": 4,
        "context_buckets": 8,
        "categories": 3,
        "text_buckets": 32,
        "numeric": 2,
    }
    module = build_module(sizes, dim=8, hidden=16, decay=0.7, seed=1)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.from_numpy(rng.normal(0, 0.1, tuple(p.shape)).astype(np.float32)))
    params = module.numpy_params()
    uid, attrs = np.array([0, 2, 5]), np.array([[1, 3], [0, 2], [0, 0]])
    history = np.array([[3, 1, 0, 0], [0, 0, 0, 0], [6, 5, 4, 2]])
    hour, weekday, context = np.array([0, 5, 24]), np.array([1, 0, 7]), np.array([[0], [3], [7]])
    with torch.no_grad():
        expected = module.users(
            *(torch.from_numpy(a) for a in (uid, attrs, history, hour)),
            torch.from_numpy(weekday),
            torch.from_numpy(context),
        ).numpy()
    got = user_forward_numpy(params, uid, attrs, history, hour, weekday, context, 0.7)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    data = demo_data()
    tower = TwoTowerRecommender()
    from recommenders.core.two_tower.inputs import ItemEncoding

    encoding = ItemEncoding.fit(data.item_features, 32, 4)
    encoding.n_categories = 3
    encoding.numeric_mean, encoding.numeric_std = (
        encoding.numeric_mean[:2],
        encoding.numeric_std[:2],
    )
    inputs = encoding.transform(data.item_features, data.n_items, np.ones(data.n_items), 0).take(
        np.arange(6)
    )
    inputs.ids = np.arange(6) % 7
    with torch.no_grad():
        expected_items = module.items(
            torch.from_numpy(inputs.ids),
            torch.from_numpy(inputs.categories.toarray()),
            torch.from_numpy(inputs.tokens.astype(np.int64)),
            torch.from_numpy(inputs.numeric),
            torch.from_numpy(inputs.popularity),
        ).numpy()
    np.testing.assert_allclose(item_forward_numpy(params, inputs), expected_items, atol=1e-5)
    assert tower.name == "two_tower"


def test_events_histories_are_previous_items_most_recent_first():
    data = demo_data()
    events = Events.from_data(data)
    user = 5
    start, end = events.user_start[user], events.user_start[user + 1]
    histories = events.histories(3, np.arange(start, end))
    assert (histories[0] == 0).all()
    np.testing.assert_array_equal(histories[2][:2], events.items[[start + 1, start]] + 1)
    assert (np.diff(events.timestamps[start:end]) >= 0).all()


def test_hour_weekday_and_popularity_buckets():
    hour, weekday = hour_weekday(np.array([0.0, 1_600_000_000.0]))  # 2020-09-13, a Sunday
    assert hour[0] == 0 and weekday[0] == 0  # unknown
    assert hour[1] == 12 + 1 and weekday[1] == 6 + 1
    np.testing.assert_array_equal(popularity_bucket(np.array([0, 1, 2, 3, 1e9])), [0, 1, 2, 2, 15])


def test_fit_learns_tastes_and_is_deterministic():
    model = fitted_tower()
    data = demo_data()
    assert model.training_log.best_epoch >= 0 and model.ann is not None
    assert model.ann.kind == "flat" and model.ann.recall_at_100 == 1.0
    users = np.arange(50)
    recs = model.recommend(users, 10)
    popular = np.argsort(-model.item_popularity)[:10]
    # personalised: lists differ from the popularity list and between users
    assert len({tuple(r) for r in recs.item_indices}) > 25
    assert np.mean([len(set(r) & set(popular)) for r in recs.item_indices]) < 8
    again = TwoTowerRecommender(**model.params).fit(data).recommend(users, 10)
    np.testing.assert_array_equal(recs.item_indices, again.item_indices)


def test_online_user_vector_equals_the_batch_one():
    model = fitted_tower()
    batch = model.user_vectors(np.array([3, 4]))
    single = model.user_vector(3, context={"timestamp": model.user_last_timestamp[3]})
    np.testing.assert_allclose(single, batch[0], atol=1e-6)
    cold = model.user_vector(None, history=[1, 2], context={"device": "ios"})
    assert cold.shape == (model.params["dim"],) and np.isclose(np.linalg.norm(cold), 1.0)


def test_new_item_is_placed_by_its_attributes_and_retrievable_at_once():
    model = copy.deepcopy(fitted_tower())
    features = demo_data().item_features
    source = 7  # a copy of item 7's attributes, with no id and no interactions
    clone = ItemFeatures(
        categories=features.categories[[source]],
        category_names=features.category_names,
        texts=[features.texts[source]],
        numeric=features.numeric[[source]],
    )
    (new,) = model.add_items(clone, 1)
    assert new == demo_data().n_items and model.n_items == new + 1
    vectors = model.item_vectors
    similar = vectors[:-1] @ vectors[new]
    assert similar[source] > np.quantile(similar, 0.8)
    _, found = model.retrieve(vectors[new], 5)
    assert new in found
    recs = model.recommend(np.arange(model.n_users), 20)
    assert (recs.item_indices == new).any(), "the new item is never recommended"


def test_save_and_load_round_trip(tmp_path):
    model = fitted_tower()
    model.save(tmp_path / "tt")
    loaded = TwoTowerRecommender.load(tmp_path / "tt")
    users = np.arange(20)
    np.testing.assert_array_equal(
        model.recommend(users, 10).item_indices, loaded.recommend(users, 10).item_indices
    )
    assert loaded.ann is not None and loaded.ann.kind == model.ann.kind


def test_bad_loss_name_is_refused():
    with pytest.raises(ValueError, match="loss"):
        TwoTowerRecommender(loss="hinge")


def test_pairwise_option_trains():
    model = TwoTowerRecommender(loss="pairwise", epochs=2, dim=16, hidden=32, threads=1)
    model.fit(demo_data())
    assert np.isfinite(model.training_log.epoch_loss).all()
