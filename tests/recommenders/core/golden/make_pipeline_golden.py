"""Write the pipeline golden answers: what a small pipeline, fitted and saved (to a temporary
folder, never committed), answers to a fixed set of requests, in ``pipeline_answers.json``.

Run once with the code whose answers are the reference (``python -m
tests.recommenders.core.golden.make_pipeline_golden``); ``test_pipeline_golden.py`` then
checks that the current code, fitting the same model, answers exactly the same. The answers
were made with the mixin-based ``PipelineRecommender`` (before it became a fitted-state value
and plain functions), so the test holds the refactor to identical outputs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from recommenders.core.demo import generate_demo_dataset
from recommenders.core.pipeline import PipelineRecommender

HERE = Path(__file__).resolve().parent
ANSWERS_FILE = HERE / "pipeline_answers.json"


def golden_requests(
    n_users: int, category_names: list[str], creator_names: list[str]
) -> list[dict]:
    """Requests covering every path: warm users, rules of every kind, a request history,
    stated preferences, demographics, context, and users the model has never seen."""
    requests: list[dict] = []
    for user in range(0, n_users, 9):
        requests.append({"user_index": user, "k": 10})
    requests += [
        {"user_index": 3, "k": 10, "rules": {"max_per_category": 1}},
        {"user_index": 4, "k": 8, "rules": {"blocked_items": list(range(0, 40, 3))}},
        {"user_index": 5, "k": 10, "rules": {"blocked_categories": [category_names[0]]}},
        {"user_index": 6, "k": 10, "rules": {"mmr_lambda": 0.5, "max_per_category": 2}},
        {"user_index": 7, "k": 10, "rules": {"freshness_boost": 2.0}},
        {
            "user_index": 8,
            "k": 10,
            "rules": {"trusted_creators": creator_names[:2], "trusted_boost": 1.0},
        },
        {"user_index": 9, "k": 10, "context": {"timestamp": 1_700_000_000, "device": "ios"}},
        {"user_index": 10, "k": 10, "context": {"hour": 22, "weekday": 5, "session_depth": 3}},
        {"user_index": None, "k": 10},
        {"user_index": None, "k": 10, "attributes": {"gender": "F", "age_band": "25-34"}},
        {"user_index": None, "k": 6, "preferences": {"categories": [category_names[1]]}},
        {"user_index": None, "k": 10, "preferences": {"items": [1, 2], "categories": []}},
        {"user_index": None, "k": 10, "history": [0, 1, 2]},
        {"user_index": n_users + 5, "k": 5, "history": [3, 4]},
        {"user_index": 11, "k": 10, "history": [5, 6, 7, 8]},
        {"user_index": None, "k": 10, "rules": {"blocked_categories": [category_names[2]]}},
    ]
    return requests


def answer(model: PipelineRecommender, request: dict) -> list[list]:
    served = model.recommend_one(**request)
    return [[int(item), float(score), str(source)] for item, score, source in served]


def fit_golden_model() -> PipelineRecommender:
    data = generate_demo_dataset(n_users=120, n_items=80, seed=5).to_interaction_data()
    model = PipelineRecommender(
        two_tower={
            "epochs": 2,
            "dim": 16,
            "hidden": 32,
            "batch_size": 256,
            "threads": 1,
            "text_buckets": 256,
            "context_buckets": 32,
        },
        ranker={"epochs": 5},
        quotas={"ann": 30, "item_cf": 20, "fresh": 5},
        n_candidates=60,
        ranker_users=200,
    )
    return model.fit(data)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="pipeline-golden-"))
    fit_golden_model().save(folder)
    loaded = PipelineRecommender.load(folder)
    assert loaded.state.store is not None
    store = loaded.state.store
    requests = golden_requests(loaded.n_users, store.category_names, store.creator_names)
    answers = [answer(loaded, request) for request in requests]
    ANSWERS_FILE.write_text(json.dumps({"requests": requests, "answers": answers}, indent=1))
    print(f"{len(requests)} requests answered; the model is in {folder} (not committed)")


if __name__ == "__main__":
    main()
