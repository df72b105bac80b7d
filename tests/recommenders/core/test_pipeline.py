"""The pipeline on generated data: candidates, rules on every served list, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from recommenders.core.pipeline import PipelineRecommender
from recommenders.core.pipeline.candidates import SOURCES
from recommenders.core.pipeline.features import feature_names
from recommenders.core.pipeline.recommender.serving import rank_inputs
from recommenders.core.registry import create_model, load_model
from tests.recommenders.core._pipeline_data import demo_data, demo_split, fitted_pipeline

USERS = np.arange(0, 300, 7)


def test_registered_under_its_name():
    assert isinstance(create_model("pipeline"), PipelineRecommender)
    assert create_model("two_tower").name == "two_tower"


def test_candidates_never_contain_seen_items_and_are_tagged():
    model = fitted_pipeline()
    seen = demo_data().matrix
    for user in USERS:
        state = model.user_state(int(user))
        candidates, features = rank_inputs(model.state, state, model_rules(model, {}))
        assert len(candidates) > 0 and len(set(candidates.items)) == len(candidates)
        assert seen[user, candidates.items].nnz == 0
        assert features.shape == (len(candidates), len(feature_names(model.state.store)))
        assert set(candidates.source_names()) <= set(SOURCES)
        first_bits = 1 << candidates.source.astype(np.int64)
        assert ((candidates.source_mask & first_bits) > 0).all()


def model_rules(model, config):
    from recommenders.core.rules import Rules

    return Rules.from_dict(config, model.state.store.category_names)


def test_every_served_list_keeps_the_rules():
    model = fitted_pipeline()
    names = model.state.store.category_names
    rng = np.random.default_rng(0)
    seen = demo_data().matrix
    for user in USERS:
        rules = {
            "max_per_category": int(rng.integers(1, 4)),
            "blocked_items": rng.integers(0, model.n_items, 30).tolist(),
            "blocked_categories": [names[int(rng.integers(len(names)))]],
            "freshness_boost": 0.5,
        }
        served = model.recommend_one(int(user), 10, rules=rules)
        items = np.array([item for item, _, _ in served], dtype=np.int64)
        assert len(items) > 0 and len(set(items)) == len(items)
        assert not np.isin(items, rules["blocked_items"]).any()
        cats = model.state.store.item_categories[items]
        assert cats[:, names.index(rules["blocked_categories"][0])].nnz == 0
        assert (np.asarray(cats.sum(axis=0)).ravel() <= rules["max_per_category"]).all()
        assert seen[user, items].nnz == 0
        scores = [score for _, score, _ in served]
        assert scores == sorted(scores, reverse=True)


def test_same_inputs_give_the_same_list():
    model = fitted_pipeline()
    context = {"timestamp": 1_700_000_000, "device": "android", "session_depth": 2}
    first = model.recommend_one(3, 10, context=context, rules={"max_per_category": 2})
    again = model.recommend_one(3, 10, context=context, rules={"max_per_category": 2})
    assert first == again
    assert model.recommend_one(3, 10) != first  # the context and rules matter


def test_batch_recommend_matches_recommend_one_and_beats_popularity():
    from recommenders.core.evaluation import evaluate

    model = fitted_pipeline()
    recs = model.recommend([5, 6], 10)
    assert recs.item_indices[0].tolist() == [i for i, _, _ in model.recommend_one(5, 10)]
    result = evaluate(model, demo_split(), 10, fit=False)
    popular = evaluate(create_model("popular"), demo_split(), 10)
    assert result.hr > popular.hr


def test_request_history_and_preferences_are_used_at_once():
    model = fitted_pipeline()
    served = model.recommend_one(None, 10, history=[1, 2, 3])
    items = [item for item, _, _ in served]
    assert len(items) == 10 and not {1, 2, 3} & set(items)
    liked = model.recommend_one(None, 10, preferences={"items": [10, 11], "categories": ["Horror"]})
    assert {10, 11}.isdisjoint(item for item, _, _ in liked)
    assert liked != served


def test_save_and_load_serve_the_same_lists(tmp_path):
    model = fitted_pipeline()
    model.save(tmp_path / "pipe")
    loaded = load_model(tmp_path / "pipe")
    for user in USERS[:10]:
        assert loaded.recommend_one(int(user), 10) == model.recommend_one(int(user), 10)
    assert (tmp_path / "pipe" / "feature_store.npz").exists()
    assert (tmp_path / "pipe" / "two_tower" / "ann.faiss").exists()


def test_score_gives_finite_ranker_scores():
    model = fitted_pipeline()
    scores = model.score(4, [0, 1, 2])
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be positive"):
        fitted_pipeline().recommend_one(1, 0)
