"""The planner page: staff only, sizes and days as the library computes them, a chart."""

from __future__ import annotations

import json
import re

import pytest

from analytics.stats import plan_experiment, sample_size_means
from analytics.stats.sequential import MAX_LOOKS

URL = "/planner/"


def _chart(html: str) -> dict:
    match = re.search(r'<script id="planner-chart" type="application/json">(.*?)</script>', html,
                      re.S)  # fmt: skip
    assert match, "chart data missing"
    return json.loads(match.group(1))


def test_anonymous_is_redirected_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"] and "next=/planner/" in response["Location"]


def test_non_staff_is_redirected(client, django_user_model):
    user = django_user_model.objects.create_user("analyst", password="pw")
    client.force_login(user)
    assert client.get(URL).status_code == 302


def test_default_plan_is_the_reference(staff_client):
    response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    # The pooled z-test's size (statsmodels' power_proportions_2indep gives 0.8 at it).
    assert 'id="size-control">122,124<' in html
    assert 'id="size-total"><strong>244,248<' in html
    assert "+5% relative, +0.25 percentage points" in html
    expected = plan_experiment(baseline=0.05, mde=0.05, daily_users=20_000)
    assert f'id="expected-days">{expected.expected_days} days' in html
    assert "vendor/chart.js/dist/chart.umd.js" in html and "splitlab/planner.js" in html
    chart = _chart(html)
    assert chart["planned"]["x"] == pytest.approx(5.0) and abs(chart["planned"]["y"] - 80) < 0.01
    assert chart["x_title"].startswith("Minimum detectable effect")
    assert len(chart["points"]) == 41 and chart["points"][0]["y"] == 5.0
    assert chart["target"] == 80.0


def test_mean_metric_with_split_and_absolute_mde(staff_client):
    response = staff_client.get(
        URL,
        {"metric": "mean", "baseline": "30", "std": "45", "mde": "1.5", "mde_type": "absolute",
         "alpha": "0.05", "power": "0.9", "treatment_share": "10", "alternative": "two-sided",
         "daily_users": "5000", "traffic_share": "50"},
    )  # fmt: skip
    html = response.content.decode()
    size = sample_size_means(45, 1.5, power=0.9, ratio=1 / 9)
    assert f'id="size-control">{size.control:,}<' in html
    assert f'id="size-treatment">{size.treatment:,}<' in html
    days = -(-size.total // 2500)
    assert f'id="expected-days">{days} days' in html
    chart = _chart(html)
    assert chart["planned"]["x"] == pytest.approx(1.5)  # absolute, as entered
    assert chart["x_title"] == "Minimum detectable effect (metric units)"
    assert "+5% relative, +1.5 (metric units)" in html


def test_bad_input_is_shown_next_to_the_field(staff_client):
    response = staff_client.get(
        URL,
        {"metric": "proportion", "baseline": "150", "mde": "0", "mde_type": "relative",
         "alpha": "0.05", "power": "0.8", "treatment_share": "50", "alternative": "two-sided",
         "traffic_share": "100"},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert "field-error" in html and "control rate in %" in html
    assert "size-control" not in html


def test_library_error_is_mapped_to_its_field(staff_client):
    response = staff_client.get(
        URL,
        {"metric": "proportion", "baseline": "5", "mde": "0", "mde_type": "relative",
         "alpha": "0.05", "power": "0.8", "treatment_share": "50", "alternative": "two-sided",
         "traffic_share": "100"},
    )  # fmt: skip
    form = response.context["form"]
    assert "mde: must not be zero" in form.errors["mde"][0]


def test_sequential_plan_is_sized_for_the_always_valid_test(staff_client):
    params = {"metric": "proportion", "baseline": "5", "mde": "5", "mde_type": "relative",
              "alpha": "0.05", "power": "0.8", "treatment_share": "50", "traffic_share": "100",
              "alternative": "two-sided", "daily_users": "20000"}  # fmt: skip
    fixed = staff_client.get(URL, params).content.decode()
    sequential = staff_client.get(URL, {**params, "sequential": "on"}).content.decode()
    plan = plan_experiment(baseline=0.05, mde=0.05, daily_users=20_000, sequential=True)
    assert f'id="size-control">{plan.sample_size.control:,}<' in sequential
    assert f'id="expected-days">{plan.expected_days} days' in sequential
    assert "always-valid sequential test" in sequential
    assert "always-valid" not in fixed.split('id="planned-test"')[1][:200]


def test_planned_looks_size_the_sequential_plan(staff_client):
    """Issue 12: the page plans the looks it is told (14 daily reads need fewer users than
    one read at the end)."""
    params = {"metric": "proportion", "baseline": "5", "mde": "5", "mde_type": "relative",
              "alpha": "0.05", "power": "0.8", "treatment_share": "50", "traffic_share": "100",
              "alternative": "two-sided", "daily_users": "20000", "sequential": "on"}  # fmt: skip
    html = staff_client.get(URL, {**params, "looks": "14"}).content.decode()
    daily = plan_experiment(baseline=0.05, mde=0.05, sequential=True, looks=14)
    once = plan_experiment(baseline=0.05, mde=0.05, sequential=True)
    assert f'id="size-control">{daily.sample_size.control:,}<' in html
    assert "read 14 times" in html and daily.sample_size.control < once.sample_size.control
    blank = staff_client.get(URL, {**params, "looks": ""}).content.decode()
    assert f'id="size-control">{once.sample_size.control:,}<' in blank


@pytest.mark.parametrize(
    ("looks", "sequential", "problem"),
    [
        ("0", "on", "greater than or equal to 1"),
        ("2.5", "on", "whole number"),
        ("many", "on", "whole number"),
        (str(MAX_LOOKS + 1), "on", f"less than or equal to {MAX_LOOKS}"),
        ("7", "", "sequential"),
    ],
)
def test_bad_looks_are_shown_next_to_the_field(staff_client, looks, sequential, problem):
    params = {"metric": "proportion", "baseline": "5", "mde": "5", "mde_type": "relative",
              "alpha": "0.05", "power": "0.8", "treatment_share": "50", "traffic_share": "100",
              "alternative": "two-sided", "sequential": sequential, "looks": looks}  # fmt: skip
    response = staff_client.get(URL, params)
    assert response.status_code == 200
    assert problem in " ".join(response.context["form"].errors["looks"])
    assert "size-control" not in response.content.decode()


def test_guardrail_needs_and_power_are_shown(staff_client):
    from analytics.stats import power_noninferiority, sample_size_noninferiority

    params = {"metric": "proportion", "baseline": "5", "mde": "5", "mde_type": "relative",
              "alpha": "0.05", "power": "0.8", "treatment_share": "50", "traffic_share": "100",
              "alternative": "two-sided", "daily_users": "20000", "guardrail_baseline": "30",
              "guardrail_margin": "2", "guardrail_direction": "increase"}  # fmt: skip
    html = staff_client.get(URL, params).content.decode()
    size = sample_size_noninferiority("proportion", 0.3, 0.02)
    assert f'id="guardrail-control">{size.control:,}<' in html
    plan = plan_experiment(baseline=0.05, mde=0.05)
    power = power_noninferiority("proportion", 0.3, 0.02, plan.sample_size.control)
    assert f'id="guardrail-power">{power:.3f}<' in html


# --- one-sided, quantile, winsorised and CUPED plans (issue 13) ------------------------------

BASE = {"mde_type": "relative", "alpha": "0.05", "power": "0.8", "treatment_share": "50",
        "daily_users": "20000", "traffic_share": "100"}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "arguments"),
    [
        ({"metric": "quantile", "quantile": "90", "lognormal_sigma": "1.2", "mde": "5",
          "alternative": "two-sided"},
         {"metric": "quantile", "quantile": 0.9, "lognormal_sigma": 1.2, "mde": 0.05}),
        ({"metric": "mean", "baseline": "120", "lognormal_sigma": "1.2", "mde": "3",
          "winsorize_percentile": "99", "alternative": "larger", "sequential": "on",
          "looks": "7"},
         {"metric": "mean", "baseline": 120, "lognormal_sigma": 1.2, "mde": 0.03,
          "winsorize_percentile": 0.99, "alternative": "larger", "sequential": True,
          "looks": 7}),
        ({"metric": "mean", "baseline": "30", "std": "45", "mde": "5",
          "variance_reduction": "30", "alternative": "smaller"},
         {"metric": "mean", "baseline": 30, "std": 45, "mde": -0.05,
          "variance_reduction": 0.3, "alternative": "smaller"}),
    ],
)  # fmt: skip
def test_planner_sizes_the_metrics_analysis_options(staff_client, query, arguments):
    if arguments.get("alternative") == "smaller":
        query = {**query, "mde": "-5"}
    html = staff_client.get(URL, {**BASE, **query}).content.decode()
    plan = plan_experiment(**arguments, daily_users=20_000)
    assert f'id="size-total"><strong>{plan.sample_size.total:,}<' in html, html[-3000:]
    assert plan.test.replace("'", "&#x27;") in html
    if arguments["metric"] == "mean":  # the capped / adjusted sd the test will see
        assert f'id="planned-std">{plan.std:.4g}<' in html
    else:
        assert 'id="planned-std"' not in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"metric": "quantile", "lognormal_sigma": "1", "mde": "5"}, "quantile"),
        ({"metric": "quantile", "quantile": "50", "mde": "5"}, "lognormal_sigma"),
        ({"metric": "proportion", "baseline": "5", "mde": "5", "winsorize_percentile": "99"},
         "winsorize_percentile"),
        ({"metric": "mean", "baseline": "5", "mde": "5"}, "std"),
    ],
)  # fmt: skip
def test_planner_names_the_field_of_a_bad_option(staff_client, query, field):
    response = staff_client.get(URL, {**BASE, "alternative": "two-sided", **query})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and response.context["plan"] is None, errors
