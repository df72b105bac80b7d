"""Serving an interleaving experiment: every ranker asked at once, one deadline, team draft."""

from __future__ import annotations

import time

import pytest

from analytics.interleaving import team_draft
from analytics.models import ServedList
from assignment.config_cache import invalidate_local
from assignment.services import flush_exposures
from experiments import services as experiment_services
from recommenders.models import ModelVersion
from recommenders.services import training
from recommenders.serving import selectors as serving_selectors
from recommenders.serving import transport, worker
from recommenders.serving.interleave import merge_answers
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db
URL = "/api/v1/recommendations"


@pytest.fixture(autouse=True)
def serving(serving_settings):
    yield
    flush_exposures()  # the interleaved users' exposures, before the caches are emptied


def _trained(name: str, algorithm: str) -> ModelVersion:
    version = training.do_start_training(make_config(name, algorithm), enqueue=False)
    return training.run_pipeline_in_process(version.pk)


@pytest.fixture
def interleaving():
    load_planted_catalogue()
    cf, popular = _trained("cf", "item_cf"), _trained("pop", "popular")
    experiment = experiment_services.do_create_experiment(
        key="inter",
        name="inter",
        surface="home",
        kind="interleaving",
        variants=[
            {"key": "cf", "is_control": True, "recommender_config": cf.config},
            {"key": "pop", "recommender_config": popular.config},
        ],
    )
    experiment = experiment_services.do_start_experiment(experiment, None)
    return experiment, cf, popular


def test_an_interleaved_answer_is_the_team_draft_of_both_rankers(api_client, interleaving):
    experiment, cf, popular = interleaving
    body = api_client.get(URL, {"user_id": "a2", "k": 6}).json()
    assert body["variant"] == "interleaved" and body["interleaving"] == "full", body
    assert body["experiment"] == "inter" and body["fallback"] is False
    lists = [
        [i["item_id"] for i in worker.recommend_with_warm_model(v.config_id, "a2", 6, {})["items"]]
        for v in (cf, popular)
    ]
    expected = team_draft(lists, length=6, seed=experiment.hash_seed, key="a2")
    assert [i["item_id"] for i in body["items"]] == list(expected.items)
    assert [i["team"] for i in body["items"]] == [("cf", "pop")[t] for t in expected.teams]
    assert [i["position"] for i in body["items"]] == [1, 2, 3, 4, 5, 6]
    assert len({i["item_id"] for i in body["items"]}) == 6  # duplicates shown once
    served = ServedList.objects.get(request_id=body["request_id"])
    assert served.variant_key == "interleaved"
    assert [i["team"] for i in served.items] == [i["team"] for i in body["items"]]
    assert served.model_version == f"{cf.pk}+{popular.pk}"
    again = api_client.get(URL, {"user_id": "a2", "k": 6}).json()
    assert [i["item_id"] for i in again["items"]] == [i["item_id"] for i in body["items"]]


def test_a_ranker_that_misses_the_deadline_leaves_a_partial_page(
    api_client, interleaving, monkeypatch
):
    _, cf, popular = interleaving
    real = transport.ask_serving_workers

    def one_late(requests, deadline_seconds):
        answers = real(requests, deadline_seconds)
        return [
            transport.ServingTimeout("late") if r["config_id"] == popular.config_id else a
            for r, a in zip(requests, answers, strict=True)
        ]

    monkeypatch.setattr(transport, "ask_serving_workers", one_late)
    body = api_client.get(URL, {"user_id": "b1", "k": 5}).json()
    assert body["interleaving"] == "partial" and body["fallback"] is False
    assert {i["team"] for i in body["items"]} == {"cf"}
    alone = worker.recommend_with_warm_model(cf.config_id, "b1", 5, {})["items"]
    assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in alone]
    served = ServedList.objects.get(request_id=body["request_id"])
    assert all(i["interleaving"] == "partial" for i in served.items)


def test_no_ranker_answering_is_the_usual_fallback(api_client, interleaving, monkeypatch):
    monkeypatch.setattr(
        transport,
        "ask_serving_workers",
        lambda requests, deadline: [transport.ServingTimeout("late") for _ in requests],
    )
    body = api_client.get(URL, {"user_id": "a1", "k": 4}).json()
    assert body["fallback"] is True and body["fallback_reason"] == "timeout"
    assert body["interleaving"] == "fallback" and len(body["items"]) == 4
    assert not any("team" in item for item in body["items"])


def test_all_tasks_are_sent_before_any_wait_under_one_deadline(monkeypatch, settings):
    from celery.exceptions import TimeoutError as ResultTimeout

    from recommenders import tasks

    settings.CELERY_BROKER_URL = "filesystem://"
    events = []

    class SlowResult:
        def __init__(self, name):
            self.name = name

        def ready(self):
            return False

        def get(self, timeout, **kwargs):
            events.append(("wait", self.name))
            time.sleep(timeout)
            raise ResultTimeout("late")

        def forget(self):
            pass

    def send(*, kwargs, **options):
        events.append(("send", kwargs["config_id"]))
        return SlowResult(kwargs["config_id"])

    monkeypatch.setattr(tasks.recommend, "apply_async", send)
    started = time.monotonic()
    answers = transport.ask_serving_workers([{"config_id": 1}, {"config_id": 2}], 0.3)
    elapsed = time.monotonic() - started
    assert [e[0] for e in events[:2]] == ["send", "send"]
    assert all(isinstance(a, transport.ServingTimeout) for a in answers)
    assert elapsed < 0.5  # the two waits share one 0.3 s deadline (not 0.6 s)


def test_merge_shows_a_shared_item_once_and_refuses_no_answer():
    answers = [
        {"items": [{"item_id": "x", "score": 1.0, "source": "model"}], "model_version": 1},
        {"items": [{"item_id": "x", "score": 0.5, "source": "model"}], "model_version": 2},
    ]
    merged = merge_answers(["a", "b"], answers, length=5, seed="s", user_id="u")
    assert [i["item_id"] for i in merged.items] == ["x"] and merged.status == "full"
    with pytest.raises(ValueError, match="rankings"):
        merge_answers(["a", "b"], [None, None], length=5, seed="s", user_id="u")


def test_served_pages_and_clicks_reach_the_report(api_client, interleaving):
    from datetime import UTC, datetime

    from analytics.reports.interleaving import build_interleaving_report

    experiment, _, _ = interleaving
    clicks = []
    for n, user in enumerate(("a0", "a3", "b2", "b4")):
        body = api_client.get(URL, {"user_id": user, "k": 4}).json()
        first = body["items"][0]
        clicks.append((user, body["request_id"], first["item_id"], first["team"]))
        events = [
            {
                "event_id": f"click-{n}",
                "type": "click",
                "user_id": user,
                "timestamp": datetime.now(UTC).isoformat(),
                "request_id": body["request_id"],
                "item_id": first["item_id"],
            },
            {  # an item that was not on the page: unattributed, never credited
                "event_id": f"stray-{n}",
                "type": "click",
                "user_id": user,
                "timestamp": datetime.now(UTC).isoformat(),
                "request_id": body["request_id"],
                "item_id": "not-shown",
            },
        ]
        response = api_client.post("/api/v1/events", events, format="json")
        assert response.status_code == 200 and response.json()["stored"] == 2
    report = build_interleaving_report(experiment)
    assert report.pages == 4 and report.analysed_pages == 4 and report.unattributed_clicks == 4
    (pair,) = report.pairs
    by_team = {"pop": pair.preference.wins_a, "cf": pair.preference.wins_b}
    assert by_team == {team: sum(1 for c in clicks if c[3] == team) for team in ("cf", "pop")}
    first_position = report.positions[0]["cells"]
    assert sum(cell["clicks"] for cell in first_position) == 4


def test_the_next_page_continues_the_draft(api_client, interleaving):
    experiment, cf, popular = interleaving
    page = api_client.get(URL, {"user_id": "b3", "k": 4, "offset": 4}).json()
    lists = [
        [i["item_id"] for i in worker.recommend_with_warm_model(v.config_id, "b3", 8, {})["items"]]
        for v in (cf, popular)
    ]
    draft = team_draft(lists, length=8, seed=experiment.hash_seed, key="b3")
    assert [i["item_id"] for i in page["items"]] == list(draft.items[4:])
    assert [i["team"] for i in page["items"]] == [("cf", "pop")[t] for t in draft.teams[4:]]
    assert [i["position"] for i in page["items"]] == [5, 6, 7, 8]
    first = api_client.get(URL, {"user_id": "b3", "k": 4}).json()
    assert not {i["item_id"] for i in first["items"]} & {i["item_id"] for i in page["items"]}


def test_an_ab_page_is_the_slice_of_the_longer_list(api_client, interleaving, monkeypatch):
    experiment, cf, _ = interleaving
    type(experiment).objects.filter(pk=experiment.pk).update(surface="elsewhere")
    type(cf.config).objects.filter(pk=cf.config_id).update(is_default=True)
    invalidate_local()
    serving_selectors.clear_caches()
    for answered in (True, False):
        if not answered:  # the fallback lists are paged the same way
            monkeypatch.setattr(
                transport,
                "ask_serving_worker",
                lambda kwargs, deadline: (_ for _ in ()).throw(transport.ServingTimeout("x")),
            )
        whole = api_client.get(URL, {"user_id": "a4", "k": 6}).json()
        tail = api_client.get(URL, {"user_id": "a4", "k": 3, "offset": 3}).json()
        assert whole["fallback"] is (not answered) and whole["interleaving"] is None
        assert [i["item_id"] for i in tail["items"]] == [i["item_id"] for i in whole["items"][3:]]
        assert [i["position"] for i in tail["items"]] == [4, 5, 6]
    assert api_client.get(URL, {"user_id": "a4", "offset": 1001}).status_code == 400
