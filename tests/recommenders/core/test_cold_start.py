"""Cold start: new users (with or without demographics and preferences), new items."""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import ItemFeatures
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.recommender.serving import rank_inputs
from tests.recommenders.core._pipeline_data import demo_data, fitted_pipeline


def test_a_new_user_without_anything_gets_popular_items_across_categories():
    model = fitted_pipeline()
    served = model.recommend_one(None, 10)
    assert len(served) == 10 and {source for _, _, source in served} == {"cold_popular"}
    cats = model.state.store.item_categories[[item for item, _, _ in served]]
    assert (np.asarray(cats.sum(axis=0)).ravel() <= model.params["cold_max_per_category"]).all()


def test_demographics_select_the_neighbours_preferences():
    model = fitted_pipeline()
    data = demo_data()
    attributes = {name: str(values[0]) for name, values in data.user_features.attributes.items()}
    served = model.recommend_one(None, 10, attributes=attributes)
    assert {source for _, _, source in served} == {"cold_demographic"}
    assert served != model.recommend_one(None, 10)


def test_liked_categories_come_first_for_a_new_user():
    model = fitted_pipeline()
    names = model.state.store.category_names
    served = model.recommend_one(
        None, 6, preferences={"categories": [names[2]]}, rules={"max_per_category": 10}
    )
    cats = model.state.store.item_categories[[item for item, _, _ in served]]
    assert cats[:, 2].nnz == len(served)


def test_an_unknown_user_index_is_cold_not_an_error():
    model = fitted_pipeline()
    recs = model.recommend([model.n_users + 10], 5)
    assert recs.fallback[0] and (recs.item_indices >= 0).all()


def test_demographic_preferences_lift():
    seen = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32))
    codes = np.array([[1], [1], [2]])
    prefs = DemographicPreferences.fit(seen, codes, smoothing=0.1)
    assert prefs.scores(np.array([1]))[0] > prefs.scores(np.array([1]))[1]
    assert prefs.scores(np.array([2]))[1] > prefs.scores(np.array([2]))[0]
    np.testing.assert_allclose(prefs.scores(np.array([0])), prefs.log_prior)


def test_a_new_item_is_retrievable_at_once():
    model = copy.deepcopy(fitted_pipeline())
    features = demo_data().item_features
    source = int(np.argmax(model.state.store.item_count))
    clone = ItemFeatures(
        categories=features.categories[[source]],
        category_names=features.category_names,
        texts=[features.texts[source]],
        numeric=features.numeric[[source]],
        created_at=np.array([model.state.store.reference_ts]),
    )
    (new,) = model.add_items(clone, 1)
    fans = np.flatnonzero(demo_data().matrix[:, source].toarray().ravel())[:40]
    found = 0
    for user in fans:
        state = model.user_state(int(user))
        candidates, _ = rank_inputs(model.state, state, model_rules(model))
        found += int(new in candidates.items)
    assert found / len(fans) >= 0.5
    fan = int(fans[0])
    plain = [item for item, _, _ in model.recommend_one(fan, 100)]
    boosted = [
        item for item, _, _ in model.recommend_one(fan, 100, rules={"freshness_boost": 50.0})
    ]
    assert new in boosted
    assert new not in plain or boosted.index(new) < plain.index(new)


def model_rules(model):
    from recommenders.core.rules import Rules

    return Rules.from_dict({}, model.state.store.category_names)
