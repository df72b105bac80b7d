"""Per-metric analysis options through the management API and the admin: stored when they
make sense, refused with the field named when they do not."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_client
from experiments.models import MetricDefinition

pytestmark = pytest.mark.django_db
URL = "/api/v1/metrics"
WATCH = {"key": "watch-capped", "name": "Watch (capped)", "kind": "watch_time"}


@pytest.fixture
def manager() -> APIClient:
    key, _ = create_api_client("ops-bot", scopes=["manage"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_defaults_are_todays_analysis(manager):
    body = manager.post(URL, WATCH, format="json").json()
    assert body["test_sides"] == "two-sided" and body["winsorize_percentile"] is None
    assert body["informative_prior"] is False
    metric = MetricDefinition.objects.get(key="watch-capped")
    assert metric.alternative == "two-sided"


def test_options_are_stored_and_listed(manager):
    options = {
        "test_sides": "one-sided", "winsorize_percentile": 0.99, "informative_prior": True,
        "prior_mean": 0.01, "prior_stddev": 0.1, "higher_is_better": False, "planning_log_sd": 1.2,
    }  # fmt: skip
    response = manager.post(URL, WATCH | options, format="json")
    assert response.status_code == 201, response.content
    listed = next(m for m in manager.get(URL).json() if m["key"] == "watch-capped")
    assert {k: listed[k] for k in options} == options
    assert MetricDefinition.objects.get(key="watch-capped").alternative == "smaller"


@pytest.mark.parametrize(
    ("fields", "name", "words"),
    [
        ({"winsorize_percentile": 1.5}, "winsorize_percentile", "between 0.5 and 1"),
        ({"winsorize_percentile": 0.3}, "winsorize_percentile", "between 0.5 and 1"),
        ({"winsorize_percentile": 0.99, "kind": "ctr"}, "winsorize_percentile", "'ctr'"),
        ({"winsorize_percentile": 0.99, "kind": "conversion_rate"}, "winsorize_percentile", ""),
        ({"prior_stddev": 0}, "prior_stddev", "(0, 10]"),
        ({"prior_stddev": -0.1}, "prior_stddev", "(0, 10]"),
        ({"prior_stddev": 1e300}, "prior_stddev", "(0, 10]"),
        ({"prior_mean": 50.0}, "prior_mean", "[-10, 10]"),
        ({"test_sides": "three-sided"}, "test_sides", ""),
        ({"winsorize_percentile": "0.99"}, "winsorize_percentile", ""),
        ({"planning_log_sd": 0}, "planning_log_sd", "(0, 10]"),
        ({"planning_log_sd": 11}, "planning_log_sd", "(0, 10]"),
    ],
)
def test_bad_options_are_refused_naming_the_field(manager, fields, name, words):
    response = manager.post(URL, WATCH | fields, format="json")
    assert response.status_code == 400, response.content
    assert name in response.json() and words in str(response.json()[name])
    assert not MetricDefinition.objects.filter(key="watch-capped").exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(manager, literal):
    body = json.dumps(WATCH)[:-1] + f', "winsorize_percentile": {literal}}}'
    response = manager.post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content


def test_admin_form_shows_the_error_on_its_field(staff_client):
    form = {
        "key": "watch-admin", "name": "Watch", "description": "", "kind": "ctr",
        "noninferiority_margin": "", "margin_is_relative": "on", "higher_is_better": "on",
        "test_sides": "two-sided", "winsorize_percentile": "0.99", "prior_mean": "0",
        "prior_stddev": "0.3",
    }  # fmt: skip
    response = staff_client.post("/admin/experiments/metricdefinition/add/", form)
    assert response.status_code == 200
    assert "winsorisation caps per-user amounts" in response.content.decode()
    form["kind"] = "watch_time"
    response = staff_client.post("/admin/experiments/metricdefinition/add/", form)
    assert response.status_code == 302
    assert MetricDefinition.objects.get(key="watch-admin").winsorize_percentile == 0.99
