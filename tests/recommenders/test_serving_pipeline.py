"""The two-tower pipeline behind the serving path: trained by the offline pipeline, served
with the config's rules, onboarding preferences used at once (slow: trains torch models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommenders.models import ModelVersion
from recommenders.services import training
from recommenders.serving import log as serving_log
from recommenders.serving import model_cache, worker
from recommenders.serving import selectors as serving_selectors
from recommenders.serving.web import do_set_user_preferences
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def serving_settings(settings, tmp_path: Path):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    yield
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    serving_log.discard_buffers()


def test_pipeline_config_serves_groups_rules_and_preferences():
    load_planted_catalogue()
    config = make_config(
        "pipe",
        "pipeline",
        params={"two_tower": {"epochs": 2, "dim": 16, "hidden": 32}, "ranker_users": 30},
        rules={"blocked_items": ["A1"]},
    )
    version = training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)
    assert version.status == ModelVersion.Status.ACTIVE
    answer = worker.recommend_with_warm_model(config.pk, "a0", 5, {"device": "web"})
    ids = [item["item_id"] for item in answer["items"]]
    assert answer["model_version"] == version.pk and len(ids) == 5
    assert "A1" not in ids and sum(i.startswith("A") for i in ids) >= 4
    do_set_user_preferences("newcomer", categories=["Beta"], items=[])
    cold = worker.recommend_with_warm_model(config.pk, "newcomer", 3, {})
    assert [item["item_id"][0] for item in cold["items"]] == ["B", "B", "B"]
