"""GET /api/v1/recommendations and the fallbacks, in process (tasks run eagerly)."""

from __future__ import annotations

import shutil

import pytest
from kombu.exceptions import OperationalError as BrokerError

from analytics.models import ServedList
from assignment.models import Exposure
from assignment.services import flush_exposures
from experiments import services as experiment_services
from experiments.models import HOLDOUT_MAX_SHARE
from recommenders.models import ModelVersion, PrecomputedList
from recommenders.services import training
from recommenders.serving import log as serving_log
from recommenders.serving import selectors as serving_selectors
from recommenders.serving import transport, worker
from recommenders.serving import web as serving_service
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db
URL = "/api/v1/recommendations"


@pytest.fixture(autouse=True)
def serving(serving_settings):
    """Every test here runs with the serving settings and fresh caches."""


def _trained(name: str, algorithm: str = "item_cf", **fields) -> ModelVersion:
    config = make_config(name, algorithm, **fields)
    version = training.do_start_training(config, enqueue=False)
    return training.run_pipeline_in_process(version.pk)


@pytest.fixture
def default_version() -> ModelVersion:
    load_planted_catalogue()
    return _trained("default-cf", is_default=True)


def test_recommendations_from_the_default_config(api_client, default_version):
    response = api_client.get(URL, {"user_id": "a0", "k": 5, "device": "ios"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["fallback"] is False and body["model_version"] == default_version.pk
    assert body["experiment"] is None and body["config"] == "default-cf"
    assert [item["position"] for item in body["items"]] == [1, 2, 3, 4, 5]
    assert all(item["item_id"].startswith("A") for item in body["items"][:3])
    assert {item["source"] for item in body["items"]} == {"model"}
    served = ServedList.objects.get(request_id=body["request_id"])
    assert served.model_version == str(default_version.pk) and served.items[0]["position"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"user_id": "a0", "k": 0}, "k"),
        ({"user_id": "a0", "k": 201}, "k"),
        ({"user_id": "a0", "k": "ten"}, "k"),
        ({"k": 5}, "user_id"),
        ({"user_id": "", "k": 5}, "user_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, query, field):
    response = api_client.get(URL, query)
    assert response.status_code == 400
    assert field in response.json()


def test_unknown_liked_items_are_a_404_naming_them(api_client, default_version):
    response = api_client.post("/api/v1/users/u-1/preferences", {"items": ["nope"]}, format="json")
    assert response.status_code == 404
    assert "unknown item id(s): nope" in response.json()["items"][0]


def test_an_unknown_surface_is_a_404_naming_the_field(api_client):
    """A surface that names nothing, as an unknown experiment key is for assignments."""
    response = api_client.get(URL, {"user_id": "a0", "surface": "nowhere"})
    assert response.status_code == 404
    assert "unknown surface 'nowhere'" in response.json()["surface"][0]


def test_anonymous_requests_are_refused(anonymous_client):
    assert anonymous_client.get(URL, {"user_id": "a0"}).status_code == 401


def test_unknown_user_gets_a_cold_start_list_not_an_error(api_client, default_version):
    body = api_client.get(URL, {"user_id": "stranger", "k": 4}).json()
    assert body["fallback"] is False and len(body["items"]) == 4
    assert {item["source"] for item in body["items"]} == {"popular"}


def test_onboarding_preferences_are_used_by_the_next_request(api_client, default_version):
    response = api_client.post(
        "/api/v1/users/newbie/preferences", {"categories": ["Beta"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "user_id": "newbie",
        "preferences": {"categories": ["Beta"], "items": []},
    }
    body = api_client.get(URL, {"user_id": "newbie", "k": 6}).json()
    assert all(item["item_id"].startswith("B") for item in body["items"])
    assert body["items"][0]["source"] == "cold_start_preferences"
    liked_item = api_client.post(
        "/api/v1/users/other/preferences", {"items": ["A3"]}, format="json"
    )
    assert liked_item.status_code == 200
    items = [
        i["item_id"] for i in api_client.get(URL, {"user_id": "other", "k": 3}).json()["items"]
    ]
    assert "A3" not in items and all(i.startswith("A") for i in items)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "categories"),
        ({"categories": "Beta"}, "categories"),
        ({"categories": [7]}, "categories"),
    ],
)
def test_bad_preferences_are_a_400_naming_the_field(api_client, default_version, body, field):
    response = api_client.post("/api/v1/users/u1/preferences", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_business_rules_hold_on_served_and_precomputed_lists(api_client):
    load_planted_catalogue()
    version = _trained(
        "ruled", rules={"blocked_items": ["A0"], "max_per_category": 2}, is_default=True
    )
    lists = [
        api_client.get(URL, {"user_id": u, "k": 10}).json()["items"] for u in ("a0", "b0", "x")
    ]
    lists = [[item["item_id"] for item in items] for items in lists]
    lists += [row.item_ids for row in PrecomputedList.objects.filter(model_version=version)]
    assert len(lists) == 3 + 31
    for ids in lists:
        assert "A0" not in ids
        assert sum(i.startswith("A") for i in ids) <= 2 and sum(i.startswith("B") for i in ids) <= 2


def test_users_of_two_variants_get_their_variants_model_versions(api_client):
    load_planted_catalogue()
    cf, pop = _trained("cf"), _trained("pop", algorithm="popular")
    experiment = experiment_services.do_create_experiment(
        key="home-recs",
        name="home recommendations",
        surface="home",
        variants=[
            {"key": "control", "is_control": True, "recommender_config": pop.config},
            {"key": "treatment", "recommender_config": cf.config},
        ],
    )
    experiment_services.do_start_experiment(experiment, None)
    expected = {"control": pop.pk, "treatment": cf.pk}
    seen = set()
    for n in range(30):
        body = api_client.get(URL, {"user_id": f"user-{n}", "k": 3}).json()
        assert body["experiment"] == "home-recs"
        assert body["model_version"] == expected[body["variant"]]
        seen.add(body["variant"])
    assert seen == {"control", "treatment"}
    flush_exposures()  # write the buffered exposures while the test database exists


def test_the_device_is_kept_as_a_segment_value_and_a_bad_one_is_a_400(api_client):
    load_planted_catalogue()
    pop = _trained("pop", algorithm="popular")
    experiment = experiment_services.do_create_experiment(
        key="home-segments",
        name="home by device",
        surface="home",
        segment_attributes=["device"],
        variants=[
            {"key": "control", "is_control": True, "recommender_config": pop.config},
            {"key": "treatment", "recommender_config": pop.config},
        ],
    )
    experiment_services.do_start_experiment(experiment, None)
    assert api_client.get(URL, {"user_id": "s1", "k": 3, "device": "ios"}).status_code == 200
    refused = api_client.get(URL, {"user_id": "s2", "k": 3, "device": "(other)"})
    assert refused.status_code == 400 and "pooled group" in refused.json()["device"][0]
    flush_exposures()
    assert dict(Exposure.objects.values_list("user_id", "segments")) == {"s1": {"device": "ios"}}


def _fail_worker(monkeypatch, error: Exception) -> None:
    """Asking a worker raises ``error``, whichever way requests travel (the transport's own
    failures are tested in test_serving_rpc)."""

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(transport, "ask_serving_worker", broken)


def test_broker_down_answers_the_precomputed_list(api_client, default_version, monkeypatch):
    _fail_worker(monkeypatch, BrokerError("Error 111 connecting to 127.0.0.1:6379"))
    body = api_client.get(URL, {"user_id": "b1", "k": 5}).json()
    assert body["fallback"] is True and body["fallback_reason"] == "broker_unavailable"
    assert body["model_version"] == default_version.pk
    assert {item["source"] for item in body["items"]} == {"precomputed"}
    assert all(item["item_id"].startswith("B") for item in body["items"][:3])
    stranger = api_client.get(URL, {"user_id": "stranger", "k": 5}).json()
    assert stranger["items"][0]["source"] == "popular" and len(stranger["items"]) == 5


def test_worker_error_and_timeout_are_fallbacks_and_counted(
    api_client, default_version, monkeypatch
):
    _fail_worker(monkeypatch, transport.ServingTimeout("deadline"))
    late = api_client.get(URL, {"user_id": "a1"}).json()
    assert late["fallback_reason"] == "timeout" and len(late["items"]) == 10
    monkeypatch.undo()
    monkeypatch.setattr(worker, "recommend_for_user", _raise_runtime_error)
    crashed = api_client.get(URL, {"user_id": "a1"})
    assert crashed.status_code == 200 and crashed.json()["fallback_reason"] == "worker_error"
    metrics = api_client.get(f"{URL}/metrics").json()
    assert metrics["requests"] == 2 and metrics["fallbacks"] == 2
    assert metrics["fallbacks_by_reason"] == {"timeout": 1, "worker_error": 1}
    serving_log.flush_all()
    assert api_client.get(f"{URL}/metrics").json()["fallback_rate"] == 1.0


def _raise_runtime_error(*args, **kwargs):
    raise RuntimeError("worker crashed")


def test_missing_artifacts_and_missing_config_have_defined_answers(api_client, default_version):
    shutil.rmtree(default_version.artifact_path)
    body = api_client.get(URL, {"user_id": "a2", "k": 3}).json()
    assert body["fallback"] is True and body["fallback_reason"] == "artifacts_missing"
    assert len(body["items"]) == 3
    default_version.config.is_default = False
    default_version.config.save()
    serving_selectors.clear_caches()
    none = api_client.get(URL, {"user_id": "a2", "k": 3}).json()
    assert none["fallback_reason"] == "no_config" and none["model_version"] is None
    assert len(none["items"]) == 3


def test_promotion_is_picked_up_by_warm_models(api_client, default_version):
    first = api_client.get(URL, {"user_id": "a0"}).json()["model_version"]
    newer = training.run_pipeline_in_process(
        training.do_start_training(default_version.config, enqueue=False).pk
    )
    serving_selectors.clear_caches()  # what the TTL does within seconds
    second = api_client.get(URL, {"user_id": "a0"}).json()["model_version"]
    assert (first, second) == (default_version.pk, newer.pk)


def test_wrapped_connection_errors_skip_the_broker_for_a_while(
    api_client, default_version, monkeypatch, settings
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    calls = []

    def result_store_down(*args, **kwargs):
        calls.append(1)
        try:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379")
        except RedisConnectionError as error:
            raise RuntimeError("Retry limit exceeded") from error

    settings.SPLITLAB_SERVING_BROKER_RETRY_SECONDS = 60.0
    monkeypatch.setattr(transport, "ask_serving_worker", result_store_down)
    monkeypatch.setattr(serving_service, "_broker_down_until", 0.0)
    reasons = [api_client.get(URL, {"user_id": "a1"}).json()["fallback_reason"] for _ in range(3)]
    assert reasons == ["broker_unavailable"] * 3 and len(calls) == 1


def test_edited_rules_apply_to_the_warm_model_without_retraining(api_client, default_version):
    first = api_client.get(URL, {"user_id": "a0", "k": 3}).json()["items"][0]["item_id"]
    config = default_version.config
    config.rules = {"blocked_items": [first]}
    config.save()
    serving_selectors.clear_caches()  # what the TTL does within seconds
    body = api_client.get(URL, {"user_id": "a0", "k": 3}).json()
    assert body["model_version"] == default_version.pk and body["fallback"] is False
    assert first not in [item["item_id"] for item in body["items"]]


def test_failing_logs_and_fallback_stores_still_answer_200(
    api_client, default_version, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(serving_log, "log_served_list", broken)
    assert api_client.get(URL, {"user_id": "a0"}).status_code == 200
    _fail_worker(monkeypatch, BrokerError("down"))
    monkeypatch.setattr(serving_selectors, "precomputed_fallback", broken)
    monkeypatch.setattr(serving_selectors, "catalogue_popular_list", broken)
    response = api_client.get(URL, {"user_id": "a0"})
    assert response.status_code == 200
    assert response.json()["fallback"] is True and response.json()["items"] == []


def test_the_answer_is_what_the_documented_serializer_gives(default_version):
    import json

    from recommenders.api.serializers import RecommendationsSerializer
    from recommenders.api.views import _recommendations_body

    for user_id in ("a0", "stranger"):
        served = serving_service.recommend_for_request(
            serving_service.RecommendationRequest(user_id=user_id, k=4)
        )
        documented = json.loads(json.dumps(RecommendationsSerializer(served).data))
        assert _recommendations_body(served) == documented


def test_held_out_users_get_the_control_and_are_told_they_are_in_the_holdout(api_client):
    """As POST /assignments says it: the control's key, in_experiment false, reason holdout;
    served the control's configuration, and their lists logged in no arm."""
    load_planted_catalogue()
    cf, pop = _trained("cf"), _trained("pop", algorithm="popular")
    experiment = experiment_services.do_create_experiment(
        key="home-recs",
        name="home recommendations",
        surface="home",
        variants=[
            {"key": "control", "is_control": True, "recommender_config": pop.config},
            {"key": "treatment", "recommender_config": cf.config},
        ],
    )
    experiment_services.do_start_experiment(experiment, None)
    experiment_services.do_create_holdout("global", HOLDOUT_MAX_SHARE)
    held_out = 0
    for n in range(60):
        user = f"user-{n}"
        body = api_client.get(URL, {"user_id": user, "k": 3}).json()
        (assigned,) = api_client.post(
            "/api/v1/assignments", {"user_id": user, "experiments": ["home-recs"]}, format="json"
        ).json()["assignments"]
        assert (body["experiment"], body["variant"], body["in_experiment"], body["reason"]) == (
            assigned["experiment"],
            assigned["variant"],
            assigned["in_experiment"],
            assigned["reason"],
        )
        logged = ServedList.objects.get(request_id=body["request_id"])
        if body["reason"] == "holdout":
            held_out += 1
            assert body["variant"] == "control" and body["in_experiment"] is False
            assert body["model_version"] == pop.pk and body["config"] == "pop"
            assert (logged.experiment_key, logged.variant_key) == ("", "")
        else:
            assert body["in_experiment"] is True and body["reason"] == "assigned"
            assert (logged.experiment_key, logged.variant_key) == ("home-recs", body["variant"])
    assert held_out > 0
    flush_exposures()
