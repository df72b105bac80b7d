"""POST /api/v1/assignments and /api/v1/assignments/batch through DRF's APIClient."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assignment import services
from assignment.models import Exposure
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db
URL = reverse("api:assignments")
BATCH_URL = reverse("api:assignments-batch")


@pytest.fixture
def two_experiments():
    running_experiment("api-a")
    running_experiment("api-b", targeting={"country": ["US"]})


def test_single_user_all_running_experiments(api_client, two_experiments):
    response = api_client.post(
        URL, {"user_id": "u-1", "attributes": {"country": "DE"}}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user_id"] == "u-1"
    by_key = {a["experiment"]: a for a in body["assignments"]}
    assert set(by_key) == {"api-a", "api-b"}
    assert by_key["api-b"] == {
        "experiment": "api-b",
        "variant": "control",
        "in_experiment": False,
        "reason": "not_targeted",
        "phase": 1,
    }
    assert by_key["api-a"]["reason"] == "assigned"
    expected = services.assign_user("u-1", {"country": "DE"}, ["api-a"], log_exposure=False)
    assert by_key["api-a"]["variant"] == expected[0].variant


def test_named_experiments_and_exposure(api_client, two_experiments):
    response = api_client.post(URL, {"user_id": "u-2", "experiments": ["api-a"]}, format="json")
    assert [a["experiment"] for a in response.json()["assignments"]] == ["api-a"]
    services.flush_exposures()
    assert Exposure.objects.filter(user_id="u-2").count() == 1


def test_unknown_experiment_is_404_naming_it(api_client, two_experiments):
    response = api_client.post(
        URL, {"user_id": "u", "experiments": ["api-a", "nope"]}, format="json"
    )
    assert response.status_code == 404
    assert "nope" in response.json()["experiments"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"user_id": "x" * 257}, "user_id"),
        ({"user_id": 12}, "user_id"),
        ({"user_id": "u", "attributes": "US"}, "attributes"),
        ({"user_id": "u", "attributes": ["US"]}, "attributes"),
        ({"user_id": "u", "attributes": {"country": {"nested": 1}}}, "attributes"),
        ({"user_id": "u", "attributes": {"tags": ["a", "b"]}}, "attributes"),
        ({"user_id": "u", "attributes": {"country": None}}, "attributes"),
        ({"user_id": "u", "experiments": "api-a"}, "experiments"),
        ({"user_id": "u", "experiments": [""]}, "experiments"),
    ],
)
def test_bad_input_is_400_naming_the_field(api_client, two_experiments, payload, field):
    response = api_client.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_user_id_of_256_characters_is_accepted(api_client, two_experiments):
    response = api_client.post(URL, {"user_id": "x" * 256}, format="json")
    assert response.status_code == 200


def test_malformed_json_is_400(api_client):
    response = api_client.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400


def test_anonymous_is_401(anonymous_client):
    assert anonymous_client.post(URL, {"user_id": "u"}, format="json").status_code == 401
    assert anonymous_client.post(BATCH_URL, {"users": []}, format="json").status_code == 401


def test_batch_answers_each_user(api_client, two_experiments):
    users = [
        {"user_id": f"u{i}", "attributes": {"country": "US" if i % 2 else "FR"}} for i in range(50)
    ]
    response = api_client.post(BATCH_URL, {"users": users}, format="json")
    assert response.status_code == 200, response.content
    rows = response.json()["users"]
    assert [r["user_id"] for r in rows] == [u["user_id"] for u in users]
    for row, user in zip(rows, users, strict=True):
        single = api_client.post(URL, user, format="json").json()
        assert row == single


def test_batch_limit_and_item_errors(api_client, two_experiments, settings):
    settings.SPLITLAB_ASSIGNMENT_BATCH_MAX_USERS = 10
    too_many = [{"user_id": f"u{i}"} for i in range(11)]
    response = api_client.post(BATCH_URL, {"users": too_many}, format="json")
    assert response.status_code == 400 and "at most 10" in response.json()["users"][0]
    bad = [{"user_id": "ok"}, {"user_id": ""}]
    response = api_client.post(BATCH_URL, {"users": bad}, format="json")
    assert response.status_code == 400 and "users[1].user_id" in response.json()["users"][0]
    bad = [{"user_id": "ok", "attributes": {"x": [1]}}]
    response = api_client.post(BATCH_URL, {"users": bad}, format="json")
    assert "users[0].attributes" in response.json()["users"][0]
    for payload in ({}, {"users": []}, {"users": "u1"}, {"users": ["u1"]}):
        response = api_client.post(BATCH_URL, payload, format="json")
        assert response.status_code == 400 and "users" in response.json()


def test_batch_of_ten_thousand_users(api_client, two_experiments):
    users = [{"user_id": f"user-{i}"} for i in range(10_000)]
    response = api_client.post(BATCH_URL, {"users": users, "experiments": ["api-a"]}, format="json")
    assert response.status_code == 200
    rows = response.json()["users"]
    assert len(rows) == 10_000
    treated = sum(r["assignments"][0]["variant"] == "treatment" for r in rows)
    assert 4700 < treated < 5300


def test_batch_unknown_experiment_is_404(api_client, two_experiments):
    response = api_client.post(
        BATCH_URL, {"users": [{"user_id": "u"}], "experiments": ["zz"]}, format="json"
    )
    assert response.status_code == 404 and "zz" in response.json()["experiments"]


def test_schema_documents_the_endpoints(api_client, staff_client):
    response = staff_client.get(reverse("schema"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/assignments" in text and "/api/v1/assignments/batch" in text


@pytest.mark.parametrize("body", [[], ["u"], "u", 12, None])
def test_body_that_is_not_an_object_is_400(api_client, body):
    for url in (URL, BATCH_URL):
        response = api_client.post(url, body, format="json")
        assert response.status_code == 400, (url, response.content)


def test_too_many_experiment_keys_is_400(api_client, two_experiments):
    response = api_client.post(
        URL, {"user_id": "u", "experiments": [f"k{i}" for i in range(1001)]}, format="json"
    )
    assert response.status_code == 400 and "experiments" in response.json()
