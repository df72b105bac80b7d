"""Exploration per configuration, off by default: validation naming the field, the sampled
list served through the one serving path, and its propensities stored with the served list."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import ValidationError

from analytics.models import ServedList
from recommenders.admin.versions import RecommenderConfigAdmin
from recommenders.models import ModelVersion, RecommenderConfig
from recommenders.selectors.exploration import exploration_cost_estimate
from recommenders.services import training
from recommenders.serving import selectors as serving_selectors
from recommenders.serving import worker
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db
URL = "/api/v1/recommendations"


@pytest.fixture(autouse=True)
def serving(serving_settings):
    """Every test here runs with the serving settings and fresh caches."""


def _trained(name: str, **fields) -> ModelVersion:
    load_planted_catalogue()
    config = make_config(name, "item_cf", **fields)
    return training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"exploration_mode": "plackett_luce", "exploration_temperature": 0.0},
         "exploration_temperature"),
        ({"exploration_mode": "epsilon_greedy", "exploration_epsilon": 2.0},
         "exploration_epsilon"),
        ({"exploration_pool": 0}, "exploration_pool"),
        ({"exploration_budget": -0.1}, "exploration_budget"),
    ],
)  # fmt: skip
def test_exploration_settings_out_of_range_are_refused_naming_the_field(fields, field):
    config = RecommenderConfig(name="bad", algorithm="popular", **fields)
    with pytest.raises(ValidationError) as error:
        config.full_clean()
    assert field in error.value.message_dict


def test_exploration_is_off_by_default_and_sorted_lists_carry_propensity_one():
    version = _trained("sorted")
    assert version.config.exploration_mode == "off"
    answer = worker.recommend_with_warm_model(version.config_id, "a0", 5, {"request_id": "r"})
    assert [item["propensity"] for item in answer["items"]] == [1.0] * 5
    assert answer["exploration"] == {"policy": "greedy", "list_probability": 1.0}


def test_plackett_luce_draws_from_the_pool_replayably_and_the_edit_reaches_the_warm_model():
    version = _trained("explore", exploration_pool=10, exploration_temperature=0.5)
    config_id = version.config_id
    pool = worker.recommend_with_warm_model(config_id, "a0", 10, {})["items"]
    pool_ids = {item["item_id"] for item in pool}
    RecommenderConfig.objects.filter(pk=config_id).update(exploration_mode="plackett_luce")
    serving_selectors.clear_caches()
    answers = [
        worker.recommend_with_warm_model(config_id, "a0", 5, {"request_id": f"r{n}"})
        for n in range(30)
    ]
    replay = worker.recommend_with_warm_model(config_id, "a0", 5, {"request_id": "r0"})
    assert replay["items"] == answers[0]["items"]
    lists = {tuple(i["item_id"] for i in a["items"]) for a in answers}
    assert len(lists) > 1 and all(set(served) <= pool_ids for served in lists)
    log = answers[0]["exploration"]
    assert log["policy"] == "plackett_luce" and len(log["pool_scores"]) == 10
    steps = [item["step_propensity"] for item in answers[0]["items"]]
    assert log["list_probability"] == pytest.approx(np.prod(steps))


def test_served_lists_store_the_propensities_and_the_policy(api_client):
    version = _trained("logged", is_default=True, exploration_mode="epsilon_greedy")
    body = api_client.get(URL, {"user_id": "a0", "k": 4}).json()
    assert body["fallback"] is False
    stored = ServedList.objects.get(request_id=body["request_id"])
    assert stored.exploration["policy"] == "epsilon_greedy"
    assert stored.exploration["epsilon"] == version.config.exploration_epsilon
    propensities = [item["propensity"] for item in stored.items]
    assert all(0 < p <= 1 for p in propensities) and len(propensities) == 4


def test_the_admin_shows_the_expected_cost_against_the_budget():
    version = _trained("costed", exploration_mode="plackett_luce", exploration_pool=10)
    config = version.config
    estimate = exploration_cost_estimate(config)
    assert estimate is not None and estimate.loss_ctr > 0
    shown = RecommenderConfigAdmin(RecommenderConfig, None).exploration_cost(config)
    assert f"{estimate.loss_ctr:.5f}" in shown
    config.exploration_budget = estimate.loss_ctr / 2
    assert "OVER" in RecommenderConfigAdmin(RecommenderConfig, None).exploration_cost(config)
    config.exploration_mode = "off"
    assert "off" in RecommenderConfigAdmin(RecommenderConfig, None).exploration_cost(config)


def test_saving_settings_over_budget_warns_naming_the_budget(rf, admin_user):
    version = _trained(
        "warned", exploration_mode="plackett_luce", exploration_pool=10, exploration_budget=0.0
    )
    model_admin = RecommenderConfigAdmin(RecommenderConfig, AdminSite())
    sent = []
    model_admin.message_user = lambda request, message, level=None: sent.append((message, level))
    request = rf.post("/")
    request.user = admin_user
    model_admin.save_model(request, version.config, None, True)
    assert len(sent) == 1 and "exploration_budget" in sent[0][0]
    assert sent[0][1] == messages.WARNING
