"""POST /api/v1/stats/sample-size and /api/v1/stats/analyze."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.stats import plan_experiment, sample_size_means
from analytics.stats.sequential import MAX_LOOKS

SAMPLE_SIZE = "/api/v1/stats/sample-size"
ANALYZE = "/api/v1/stats/analyze"


def test_routes_are_named():
    assert reverse("api:stats-sample-size") == SAMPLE_SIZE
    assert reverse("api:stats-analyze") == ANALYZE


def test_sample_size_reference(api_client):
    response = api_client.post(
        SAMPLE_SIZE, {"baseline": 0.05, "mde": 0.05, "daily_users": 10_000, "traffic_share": 0.5},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    # The pooled z-test that the report runs (statsmodels' power_proportions_2indep: 0.8).
    assert (body["control"], body["treatment"], body["total"]) == (122_124, 122_124, 244_248)
    assert body["sequential"] is False and "pooled" in body["test"]
    assert body["expected_days"] == 49
    assert body["mde_absolute"] == pytest.approx(0.0025)
    assert body["achieved_power"] >= 0.8
    curve = body["power_curve"]
    assert len(curve) == 41 and curve[0]["power"] == pytest.approx(0.05)
    assert curve[-1]["mde_relative"] == pytest.approx(0.125)


def test_sample_size_cohen_and_means(api_client):
    cohen = api_client.post(
        SAMPLE_SIZE, {"baseline": 0.05, "mde": 0.05, "method": "cohen_h"}, format="json"
    ).json()
    assert cohen["control"] == 122_107 and cohen["expected_days"] is None
    means = api_client.post(
        SAMPLE_SIZE,
        {"metric": "mean", "std": 45, "mde": 1.5, "mde_relative": False, "ratio": 0.5},
        format="json",
    ).json()
    assert means["control"] == sample_size_means(45, 1.5, ratio=0.5).control
    assert means["mde_relative"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"baseline": 0.05, "mde": 0}, "mde"),
        ({"baseline": 0.05, "mde": 0.05, "alpha": 1.2}, "alpha"),
        ({"baseline": 0.05, "mde": 0.05, "power": 0}, "power"),
        ({"baseline": 2, "mde": 0.05}, "baseline"),
        ({"mde": 0.05}, "baseline"),
        ({"baseline": 0.05}, "mde"),
        ({"baseline": 0.05, "mde": "a lot"}, "mde"),
        ({"baseline": 0.05, "mde": 0.05, "ratio": -1}, "ratio"),
        ({"baseline": 0.05, "mde": 0.05, "daily_users": 0}, "daily_users"),
        ({"baseline": 0.05, "mde": 0.05, "daily_users": 10, "traffic_share": 2}, "traffic_share"),
        ({"metric": "mean", "mde": 1, "mde_relative": False}, "std"),
        ({"metric": "mean", "std": 2, "mde": 0.1}, "baseline"),
        ({"metric": "median", "mde": 1}, "metric"),
        ({"baseline": 0.05, "mde": 0.05, "alternative": "up"}, "alternative"),
    ],
)
def test_sample_size_bad_input_names_the_field(api_client, body, field):
    response = api_client.post(SAMPLE_SIZE, body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_sequential_sample_size_for_planned_looks(api_client):
    """Issue 12: the planner's looks reach the API; daily reads need fewer users than one."""
    request = {"baseline": 0.05, "mde": 0.05, "sequential": True, "daily_users": 20_000}
    once = api_client.post(SAMPLE_SIZE, request, format="json").json()
    daily = api_client.post(SAMPLE_SIZE, request | {"looks": 14}, format="json")
    assert daily.status_code == 200, daily.json()
    body = daily.json()
    plan = plan_experiment(baseline=0.05, mde=0.05, sequential=True, looks=14, daily_users=20_000)
    assert (body["control"], body["total"]) == (plan.sample_size.control, plan.sample_size.total)
    assert body["looks"] == 14 and once["looks"] == 1
    assert body["control"] < once["control"] and "read 14 times" in body["test"]


@pytest.mark.parametrize(
    ("looks", "problem"),
    [
        (0, "greater than or equal to 1"),
        (1.5, "integer"),
        ("7", "integer"),
        (True, "integer"),
        (MAX_LOOKS + 1, f"less than or equal to {MAX_LOOKS}"),
    ],
)
def test_looks_must_be_a_bounded_whole_number(api_client, looks, problem):
    body = {"baseline": 0.05, "mde": 0.05, "sequential": True, "looks": looks}
    response = api_client.post(SAMPLE_SIZE, body, format="json")
    assert response.status_code == 400
    assert problem in " ".join(response.json()["looks"]), response.json()


def test_several_looks_need_a_sequential_plan(api_client):
    body = {"baseline": 0.05, "mde": 0.05, "looks": 7}
    response = api_client.post(SAMPLE_SIZE, body, format="json")
    assert response.status_code == 400
    assert "sequential" in response.json()["looks"][0]


def test_analyze_reference(api_client):
    response = api_client.post(
        ANALYZE,
        {"kind": "proportion", "control": {"n": 10_000, "sum_x": 1000},
         "treatment": {"n": 10_000, "sum_x": 1100}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["statistic"] == pytest.approx(2.3066, abs=5e-5)
    assert body["p_value"] == pytest.approx(0.02108, abs=5e-6)
    assert body["significant"] is True and body["df"] is None
    assert body["relative_effect"] == pytest.approx(0.1)
    assert 0.98 < body["probability_to_beat"] < 1
    assert body["sequential_ci"] is None


def test_analyze_ratio_sequential_one_sided(api_client):
    group = {"n": 500, "sum_x": 300, "sum_x2": 700, "sum_y": 6000, "sum_y2": 90_000,
             "sum_xy": 4200}  # fmt: skip
    treated = dict(group, sum_x=360, sum_x2=800, sum_xy=4800)
    body = api_client.post(
        ANALYZE, {"kind": "ratio", "control": group, "treatment": treated, "sequential": True},
        format="json",
    ).json()  # fmt: skip
    assert body["method"] == "delta-method z-test"
    assert body["sequential_p_value"] >= body["p_value"]
    low, high = body["sequential_ci"]
    assert low < body["absolute_effect"] < high
    one_sided = api_client.post(
        ANALYZE, {"kind": "ratio", "control": group, "treatment": treated,
                  "alternative": "larger"}, format="json",
    ).json()  # fmt: skip
    assert one_sided["absolute_ci"][1] is None  # infinite end -> null


@pytest.mark.parametrize(
    ("body", "field", "subfield"),
    [
        ({"treatment": {"n": 100, "sum_x": 101}}, "treatment", "sum_x"),
        ({"control": {"n": -1, "sum_x": 1}}, "control", "n"),
        ({"control": {"n": 0, "sum_x": 0}}, "control", "n"),
        ({"control": {"n": 10, "sum_x": 5, "sum_x2": 1}}, "control", "sum_x2"),
        ({"control": {"sum_x": 1}}, "control", "n"),
        ({"control": {"n": 10**400, "sum_x": 1}}, "control", "n"),
        ({"control": {"n": 100, "sum_x": "NaN"}}, "control", "sum_x"),
        ({"kind": "ratio"}, "control", "sum_y"),
        ({"kind": "median"}, "kind", None),
        ({"alpha": 0}, "alpha", None),
        ({"sequential": True, "sequential_method": "msprt"}, "mixing_sd", None),
        ({"treatment": "lots"}, "treatment", None),
    ],
)
def test_analyze_bad_input_names_the_field(api_client, body, field, subfield):
    request = {"kind": "proportion", "control": {"n": 100, "sum_x": 10},
               "treatment": {"n": 100, "sum_x": 12}} | body  # fmt: skip
    response = api_client.post(ANALYZE, request, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    if subfield:
        assert subfield in errors[field], errors


def test_malformed_json_is_a_400(api_client):
    response = api_client.post(ANALYZE, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_anonymous_is_401(anonymous_client):
    assert anonymous_client.post(SAMPLE_SIZE, {}, format="json").status_code == 401
    assert anonymous_client.post(ANALYZE, {}, format="json").status_code == 401


def test_endpoints_are_in_the_openapi_schema(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].endswith("json") else None
    text = response.content.decode()
    assert "/api/v1/stats/sample-size" in text and "/api/v1/stats/analyze" in text
    if schema:
        post = schema["paths"]["/api/v1/stats/analyze"]["post"]
        assert post["operationId"] == "stats_analyze"


def test_sums_too_large_for_the_variance_formulas_are_refused_by_name(api_client):
    body = {
        "kind": "mean",
        "control": {"n": 10, "sum_x": 1e200, "sum_x2": 1e300},
        "treatment": {"n": 10, "sum_x": 5.0, "sum_x2": 30.0},
    }
    response = api_client.post("/api/v1/stats/analyze", body, format="json")
    assert response.status_code == 400
    assert "sum_x" in response.json()["control"]


def test_analyze_returns_growthbook_chance_to_win_and_risk_for_a_mean(api_client):
    body = {
        "kind": "mean",
        "control": {"n": 5000, "sum_x": 50_000, "sum_x2": 50_000 * 10 + 4999 * 25},
        "treatment": {"n": 5000, "sum_x": 51_500, "sum_x2": 51_500 * 10.3 + 4999 * 25},
    }
    response = api_client.post(ANALYZE, body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["chance_to_win"] > 0.9 and len(data["risk"]) == 2
    assert data["risk"][0] > data["risk"][1] >= 0 and data["note"] == ""


def test_a_flat_arm_of_a_huge_experiment_answers_at_once(api_client):
    """0 % against 100 % of 10^12 users each, and 5 against 0 successes of 10^15: Fisher's test
    would walk 10^12 tables, or overflow int64 and never end; the z-test answers."""
    huge = 10**12
    response = api_client.post(
        "/api/v1/stats/analyze",
        {
            "kind": "proportion",
            "control": {"n": huge, "sum_x": 0},
            "treatment": {"n": huge, "sum_x": huge},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["p_value"] < 1e-6
    few = {"kind": "proportion", "control": {"n": 10**15, "sum_x": 0}}
    response = api_client.post(
        "/api/v1/stats/analyze",
        {**few, "treatment": {"n": 10**15, "sum_x": 5}},
        format="json",
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"metric": "proportion", "baseline": 0.05, "method": "z"},
            "'z' is not a method for a proportion",
        ),
        (
            {"metric": "mean", "baseline": 1, "std": 2, "method": "pooled"},
            "'pooled' is not a method for a mean",
        ),
    ],
)
def test_sample_size_method_must_be_one_of_the_metrics(api_client, body, message):
    response = api_client.post("/api/v1/stats/sample-size", {"mde": 0.05, **body}, format="json")
    assert response.status_code == 400
    assert message in response.json()["method"][0]


def test_the_schema_advertises_each_metrics_methods(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    mean, quantile, rate = schema["components"]["schemas"]["SampleSizeRequestRequest"]["allOf"][:3]
    assert mean["then"]["properties"]["method"]["enum"] == ["t", "z"]
    assert quantile["then"]["properties"]["method"]["enum"] == ["z"]
    assert quantile["then"]["required"] == ["quantile"]
    assert rate["then"]["properties"]["method"]["enum"] == ["unpooled", "pooled", "cohen_h"]


# --- sizing one-sided, quantile, winsorised and CUPED tests (issue 13) -----------------------


@pytest.mark.parametrize(
    "request_body",
    [
        {"metric": "quantile", "quantile": 0.9, "lognormal_sigma": 1.0, "mde": 0.05},
        {"metric": "quantile", "quantile": 0.5, "lognormal_sigma": 1.0, "mde": 0.05,
         "sequential": True, "looks": 7, "alternative": "larger"},
        {"metric": "mean", "lognormal_sigma": 1.2, "baseline": 100, "mde": 0.05,
         "winsorize_percentile": 0.99},
        {"metric": "mean", "std": 40, "baseline": 100, "mde": 0.05, "variance_reduction": 0.3,
         "alternative": "larger"},
        {"baseline": 0.05, "mde": 0.1, "sequential": True, "alternative": "larger"},
        {"metric": "quantile", "quantile": 0.5, "mde": 0.1,
         "baseline_values": [float(v) for v in range(1, 201)]},
    ],
)  # fmt: skip
def test_sample_size_plans_the_metrics_options(api_client, request_body):
    response = api_client.post("/api/v1/stats/sample-size", request_body, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    plan = plan_experiment(**request_body)
    assert body["total"] == plan.sample_size.total and body["test"] == plan.test
    assert body["alternative"] == request_body.get("alternative", "two-sided")
    if request_body.get("metric") == "mean":
        assert body["std"] == pytest.approx(plan.std)


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"metric": "quantile", "lognormal_sigma": 1.0}, "quantile"),
        ({"metric": "quantile", "quantile": 0.9}, "lognormal_sigma"),
        ({"metric": "quantile", "quantile": 0.9, "lognormal_sigma": -1}, "lognormal_sigma"),
        ({"metric": "quantile", "quantile": 0.9, "lognormal_sigma": 1, "method": "t"}, "method"),
        ({"metric": "mean", "std": 4, "baseline": 10, "winsorize_percentile": 1.5},
         "winsorize_percentile"),
        ({"metric": "mean", "std": 4, "baseline": 10, "variance_reduction": 1},
         "variance_reduction"),
        ({"baseline": 0.05, "variance_reduction": 0.2}, "variance_reduction"),
        ({"metric": "mean", "baseline": 10, "baseline_values": [1.0] * 5}, "baseline_values"),
        ({"metric": "mean", "baseline": 10, "baseline_values": [1.0] * 30}, "baseline_values"),
        ({"metric": "mean", "baseline": 10, "baseline_values": ["x"] * 30}, "baseline_values"),
    ],
)  # fmt: skip
def test_sample_size_names_the_bad_option(api_client, request_body, field):
    response = api_client.post(
        "/api/v1/stats/sample-size", {"mde": 0.05, **request_body}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
