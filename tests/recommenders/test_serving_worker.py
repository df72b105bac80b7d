"""The serving worker's side: any model answers through ``recommend_one`` under the
config's rules (external ids and category names turned into item indices once, at load)
and, for users the model cannot answer, cold start on their stated preferences."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommenders.models import RecommenderConfig
from recommenders.services import training
from recommenders.serving import model_cache, worker
from recommenders.serving import selectors as serving_selectors
from recommenders.serving.web import do_set_user_preferences
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifacts(settings, tmp_path: Path):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"


def _ids(answer: dict) -> list[str]:
    assert answer["status"] == "ok", answer
    return [item["item_id"] for item in answer["items"]]


def test_rules_by_category_name_and_edited_rules_reach_the_warm_model():
    load_planted_catalogue()
    config = make_config("cf", "item_cf", rules={"blocked_categories": ["Alpha"]})
    training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)
    served = _ids(worker.recommend_with_warm_model(config.pk, "a0", 5, {}))
    assert served and all(i.startswith("B") for i in served)  # Alpha blocked by name
    loaded = model_cache.warm_version(config.pk)
    RecommenderConfig.objects.filter(pk=config.pk).update(
        rules={"blocked_items": ["A0", "A1"], "max_per_category": 3}
    )
    serving_selectors.clear_caches()  # what the TTL does within seconds
    edited = _ids(worker.recommend_with_warm_model(config.pk, "a0", 10, {}))
    assert model_cache.warm_version(config.pk).model is loaded.model  # not reloaded
    # three of each category at most (the cap), the in-group ones first; A0 and A1 blocked
    assert [i[0] for i in edited] == ["A", "A", "A", "B", "B", "B"]
    assert not {"A0", "A1"} & set(edited)


def test_a_user_the_model_does_not_know_gets_popular_items_of_the_liked_categories():
    load_planted_catalogue()
    config = make_config("cf-cold", "item_cf", rules={"blocked_items": ["B0"]})
    training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)
    do_set_user_preferences("newcomer", categories=["Beta"], items=["B1"])
    answer = worker.recommend_with_warm_model(config.pk, "newcomer", 4, {})
    assert answer["cold"] is True
    served = _ids(answer)
    # Beta first (B0 blocked, the liked B1 not served again), by popularity
    assert len(served) == 4 and all(i.startswith("B") for i in served)
    assert not {"B0", "B1"} & set(served)
    assert {item["source"] for item in answer["items"]} == {"cold_start_preferences"}
    known = worker.recommend_with_warm_model(config.pk, "b0", 4, {})
    assert known["cold"] is False and {item["source"] for item in known["items"]} == {"model"}
