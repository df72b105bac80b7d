"""The contract every registered recommender keeps, on the planted two-group dataset.

Parametrised over ``registry.MODEL_NAMES``: a model registered later is checked too. A
model that needs inputs the planted data lacks declares ``contract_skip_reason``.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommenders.core.base import Recommender
from recommenders.core.registry import MODEL_NAMES, create_model, load_model, model_class
from tests.recommenders.core.planted import (
    COLD_USER,
    N_GROUP_USERS,
    N_USERS,
    item_group,
    planted_data,
    user_group,
)

K = 5
WARM_USERS = np.arange(2 * N_GROUP_USERS)
_FITTED: dict[str, object] = {}


def _data_for(name: str):
    return planted_data(explicit=model_class(name).feedback == "explicit")


def fitted(name: str):
    """One fitted model per name, shared by the checks that only read it."""
    cls = model_class(name)
    if cls.contract_skip_reason:
        pytest.skip(f"{name}: {cls.contract_skip_reason}")
    if name not in _FITTED:
        _FITTED[name] = create_model(name).fit(_data_for(name))
    return _FITTED[name]


@pytest.fixture(params=MODEL_NAMES)
def name(request) -> str:
    return request.param


def test_recommends_unseen_items_within_the_users_group(name):
    model = fitted(name)
    recs = model.recommend(WARM_USERS, K)
    assert recs.item_indices.shape == (len(WARM_USERS), K)
    seen = _data_for(name).matrix
    for row, user in enumerate(WARM_USERS):
        items = recs.item_indices[row]
        assert (items >= 0).all() and len(set(items)) == K
        assert seen[user, items].nnz == 0, "a seen item was recommended"
    assert not recs.fallback.any()
    if model.personalised:
        groups = np.array([user_group(u) for u in WARM_USERS])
        assert (item_group(recs.item_indices) == groups[:, None]).all()


def _uses_base_answers(model) -> bool:
    """True when the model answers through the base class (its fallback, its score())."""
    cls = type(model)
    return cls.recommend is Recommender.recommend and cls.score is Recommender.score


def test_scores_are_sorted_and_match_score(name):
    model = fitted(name)
    recs = model.recommend([0, 25], K)
    assert (np.diff(recs.scores, axis=1) <= 1e-6).all()
    scored = model.score(25, recs.item_indices[1])
    assert scored.shape == (K,) and np.isfinite(scored).all()
    if _uses_base_answers(model):  # models with their own recommend may re-rank (rules)
        np.testing.assert_allclose(scored, recs.scores[1], rtol=1e-4, atol=1e-5)


def test_deterministic_under_a_seed(name):
    first = fitted(name).recommend(WARM_USERS, K)
    again = create_model(name).fit(_data_for(name)).recommend(WARM_USERS, K)
    np.testing.assert_array_equal(first.item_indices, again.item_indices)
    np.testing.assert_allclose(first.scores, again.scores, rtol=1e-5, atol=1e-6)


def test_save_and_load_give_identical_output(name, tmp_path):
    model = fitted(name)
    model.save(tmp_path / "artifact")
    loaded = load_model(tmp_path / "artifact")
    assert type(loaded) is type(model) and loaded.params == model.params
    assert loaded.fit_seconds == model.fit_seconds and model.fit_seconds > 0
    users = np.r_[WARM_USERS, COLD_USER, N_USERS + 5]
    before, after = model.recommend(users, K), loaded.recommend(users, K)
    np.testing.assert_array_equal(before.item_indices, after.item_indices)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(before.fallback, after.fallback)


def test_cold_users_fall_back_to_popularity(name):
    model = fitted(name)
    recs = model.recommend([COLD_USER, N_USERS + 100, 3], K)
    assert (recs.item_indices[:2] >= 0).all()
    if not model.personalised:  # the global ranking is itself the fallback: nothing to flag
        assert not recs.fallback.any()
        np.testing.assert_array_equal(recs.item_indices[0], recs.item_indices[1])
        return
    np.testing.assert_array_equal(recs.fallback, [True, True, False])
    if not _uses_base_answers(model):
        return  # the model documents its own cold start
    popularity = model.item_popularity
    expected = np.lexsort((np.arange(len(popularity)), -popularity))[:K]
    np.testing.assert_array_equal(recs.item_indices[0], expected)
    np.testing.assert_array_equal(recs.item_indices[1], expected)
    assert np.isfinite(model.score(N_USERS + 100, [0, 1])).all()


@pytest.mark.parametrize("k", [0, -3])
def test_non_positive_k_raises(name, k):
    with pytest.raises(ValueError, match="k must be positive"):
        fitted(name).recommend([0], k)


def test_negative_user_index_raises(name):
    with pytest.raises(ValueError, match="non-negative"):
        fitted(name).recommend([-1], K)


def test_unknown_parameter_is_refused(name):
    with pytest.raises(ValueError, match="unknown parameter"):
        create_model(name, no_such_parameter=1)


def test_recommend_one_serves_within_the_group_and_keeps_the_rules(name):
    """One serving request, the path the serving worker takes for every model: the
    model's own ranking for a known user, cold start for the cold one, and the rules
    (blocked items, category cap over the model's catalogue) hold on every list."""
    model = fitted(name)
    catalogue = model.item_catalogue()
    seen = _data_for(name).matrix
    for user in (0, N_GROUP_USERS):
        blocked = model.recommend([user], 2).item_indices[0].tolist()
        served = model.recommend_one(user, K, rules={"blocked_items": blocked})
        items = [item for item, _, _ in served]
        assert len(items) == K == len(set(items))
        assert not set(items) & set(blocked) and seen[user, items].nnz == 0
        scores = [score for _, score, _ in served]
        assert scores == sorted(scores, reverse=True)
        if model.personalised:
            assert (item_group(np.array(items)) == user_group(user)).all()
        capped = model.recommend_one(user, K, rules={"max_per_category": 1})
        per_category = np.asarray(catalogue.categories[[i for i, _, _ in capped]].sum(axis=0))
        assert (per_category <= 1).all()
    cold = model.recommend_one(COLD_USER, K)
    assert len({item for item, _, _ in cold}) == len(cold) > 0
