"""``GET /experiments/<key>/results`` carries the numbers the report page shows."""

from __future__ import annotations

import html

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_client
from analytics.services.rollups import do_run_rollups
from analytics.templatetags.report_format import effect, interval, pvalue
from tests.analytics.factories import generate

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst() -> APIClient:
    key, _ = create_api_client("analyst-app", scopes=["analyze"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_json_and_page_carry_the_same_numbers(analyst, staff_client):
    generate(users=120, seed=21, lift=1.6)
    do_run_rollups()
    response = analyst.get("/api/v1/experiments/exp/results")
    assert response.status_code == 200, response.content
    body = response.json()
    page = html.unescape(staff_client.get("/reports/exp/").content.decode())

    assert body["srm"]["p_value"] is not None
    assert f"SRM chi-square p = {pvalue(body['srm']['p_value'])}" in page
    assert body["preliminary"] == ("preliminary-banner" in page)
    assert set(body["exposures"]) == {"control", "treatment"}
    assert sum(body["exposures"].values()) == body["total_exposed"] > 0
    rows = body["primary"] + body["secondary"]
    assert rows and body["guardrails"]
    for row in rows:
        statistic = _statistic(row)
        latest = row["series"]["latest"]
        assert effect(latest["absolute_effect"], statistic) in page
        assert interval(row["series"]["ci"], statistic) in page
        assert pvalue(row["series"]["p_value"]) in page
        assert row["verdict"]["text"] in page
    for row in body["guardrails"]:
        assert pvalue(row["guardrail"]["result"]["p_value"]) in page
        assert row["verdict"]["text"] in page


def _statistic(row: dict) -> str:
    from experiments.models import MetricDefinition

    return MetricDefinition.objects.get(key=row["metric"]).statistic


def test_results_errors_are_named(analyst, db):
    missing = analyst.get("/api/v1/experiments/none/results")
    assert missing.status_code == 404 and "none" in missing.json()["key"][0]
    generate(users=20, seed=1, lift=1.0)
    bad_phase = analyst.get("/api/v1/experiments/exp/results?phase=9")
    assert bad_phase.status_code == 400 and "phase" in bad_phase.json()
