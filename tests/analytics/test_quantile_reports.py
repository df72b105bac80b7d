"""Quantile metric rows in the report, the CSV, the results API and the holdout report: the
numbers equal the library's on per-user values computed straight from the raw events."""

from __future__ import annotations

import html
import math
import random
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_client
from analytics.reports.experiment import build_experiment_report
from analytics.reports.holdout import build_holdout_report
from analytics.services.rollups import do_run_rollups
from analytics.stats import arm_quantile, quantile_difference, quantile_noninferiority
from analytics.templatetags.report_format import effect, pvalue
from assignment.models import HoldoutExposure
from experiments.models import Holdout, MetricDefinition
from experiments.services.base import ExperimentError
from experiments.services.metrics import do_create_metric_definition
from tests.analytics.factories import START, generate, seeded_metrics, store_events, user_events
from tests.analytics.test_reports import csv_rows

pytestmark = pytest.mark.django_db


def _metric(key: str, kind: str, level: float, **fields) -> MetricDefinition:
    return MetricDefinition.objects.create(
        key=key, name=key.replace("_", " "), kind=kind, quantile_level=level, **fields
    )


def _per_user(data, variant_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Watch seconds of every exposed user (0 without a watch) and the mean time to first
    interaction of users with one, from the generated events after each user's exposure."""
    users = sorted(u for u, (v, _) in data.exposures.items() if v == variant_key)
    watch, fi, fis = defaultdict(float), defaultdict(int), defaultdict(float)
    for e in data.events:
        user = e["user_id"]
        if user not in data.exposures or data.exposures[user][0] != variant_key:
            continue
        if datetime.fromisoformat(e["timestamp"]) < data.exposures[user][1]:
            continue
        if e["type"] == "watch":
            watch[user] += e["seconds"]
        elif e["type"] == "first_interaction":
            fi[user] += 1
            fis[user] += e["seconds"]
    return (
        np.array([watch[u] for u in users]),
        np.array([fis[u] / fi[u] for u in users if fi[u]]),
    )


@pytest.fixture
def quantile_experiment(db):
    data = generate(users=600, seed=31, lift=1.6)
    p90 = _metric("watch_p90", "watch_time_quantile", 0.9)
    median_tfi = _metric(
        "tfi_p50", "time_to_first_interaction_quantile", 0.5, higher_is_better=False,
        is_guardrail=True, noninferiority_margin=0.05,
    )  # fmt: skip
    data.experiment.secondary_metrics.add(p90)
    data.experiment.guardrail_metrics.add(median_tfi)
    do_run_rollups()
    return data


def test_quantile_rows_equal_the_library_on_raw_per_user_values(staff_client, quantile_experiment):
    data = quantile_experiment
    watch_c, tfi_c = _per_user(data, "control")
    watch_t, tfi_t = _per_user(data, "treatment")
    rows = {
        (r["section"], r["metric"]): r
        for r in csv_rows(staff_client.get("/reports/exp/export.csv"))
    }

    watch = rows[("secondary", "watch_p90")]
    expected = quantile_difference(watch_c, watch_t, quantile=0.9)
    assert expected.note == ""
    assert float(watch["control_value"]) == pytest.approx(np.quantile(watch_c, 0.9), rel=1e-9)
    assert float(watch["treatment_value"]) == pytest.approx(np.quantile(watch_t, 0.9), rel=1e-9)
    assert int(watch["control_users"]) == watch_c.size == 300
    assert float(watch["absolute_effect"]) == pytest.approx(expected.absolute_effect, rel=1e-9)
    assert float(watch["ci_lower"]) == pytest.approx(expected.absolute_ci[0], rel=1e-9)
    assert float(watch["ci_upper"]) == pytest.approx(expected.absolute_ci[1], rel=1e-9)
    assert float(watch["p_value"]) == pytest.approx(expected.p_value, rel=1e-9)
    assert float(watch["relative_effect"]) == pytest.approx(expected.relative_effect, rel=1e-9)
    assert watch["statistic"] == "quantile" and watch["control_numerator"] == ""

    tfi = rows[("guardrail", "tfi_p50")]
    guard = quantile_noninferiority(
        arm_quantile(tfi_c, 0.5), arm_quantile(tfi_t, 0.5), margin=0.05, bad_direction="increase"
    )
    assert int(tfi["treatment_users"]) == tfi_t.size
    assert float(tfi["treatment_value"]) == pytest.approx(np.quantile(tfi_t, 0.5), rel=1e-9)
    assert float(tfi["noninferiority_p_value"]) == pytest.approx(guard.p_value, rel=1e-9)


def test_page_and_results_api_show_the_quantile_rows(staff_client, quantile_experiment):
    key, _ = create_api_client("quantile-analyst", scopes=["analyze"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = api.get("/api/v1/experiments/exp/results").json()
    page = html.unescape(staff_client.get("/reports/exp/").content.decode())
    row = next(r for r in body["secondary"] if r["metric"] == "watch_p90")
    latest = row["series"]["latest"]
    assert latest["method"].startswith("quantile difference")
    assert latest["control"]["quantile"] == 0.9 and latest["control"]["units"] == 300
    assert effect(latest["absolute_effect"], "quantile") in page
    assert pvalue(row["series"]["p_value"]) in page
    assert "(p90 of per-user values)" in page and "(p50 of per-user values)" in page
    guard = next(r for r in body["guardrails"] if r["metric"] == "tfi_p50")
    assert guard["guardrail"]["result"]["method"] == "fixed-horizon"
    assert guard["verdict"]["text"] in page


def test_sequential_quantile_primary_is_always_valid(quantile_experiment):
    experiment = quantile_experiment.experiment
    experiment.primary_metric = MetricDefinition.objects.get(key="watch_p90")
    experiment.sequential_testing = True
    experiment.save()
    report = build_experiment_report(experiment)
    row = report.primary[0]
    series = row.series
    assert series.sequential_p_value is not None
    assert series.p_value == series.sequential_p_value >= row.analysis.p_value
    assert series.ci == series.sequential_ci and series.ci[0] <= series.ci[1]
    assert series.lower == sorted(series.lower)  # the running intersection of the sequences
    latest = row.analysis  # the latest look alone, always-valid, wider than a fixed interval
    assert latest.absolute_ci == latest.sequential_ci
    assert latest.absolute_ci[1] - latest.absolute_ci[0] > 2 * 1.96 * latest.std_error
    assert len(series.days) == len(series.lower) >= 2  # one look per day
    assert report.chart["effect"][0]["effect"] == [round(e, 6) for e in series.effects]


def test_too_few_users_is_not_enough_data_in_the_report(db):
    data = generate(users=60, seed=5, lift=1.3)  # 30 users per arm: a p90 needs 100
    data.experiment.primary_metric = _metric("watch_p90", "watch_time_quantile", 0.9)
    data.experiment.save()
    do_run_rollups()
    row = build_experiment_report(data.experiment).primary[0]
    assert row.analysis is None and row.series.p_value is None
    assert row.verdict.css == "neutral"
    assert row.verdict.text.startswith("not enough data: control: 30 users; a p90 needs")
    assert row.control_users == 30 and row.control_value is not None


def test_empty_arms_are_not_enough_data(db):
    data = generate(users=0, seed=5)
    data.experiment.primary_metric = _metric("watch_p50", "watch_time_quantile", 0.5)
    data.experiment.save()
    row = build_experiment_report(data.experiment).primary[0]
    assert row.verdict.text.startswith("not enough data")
    assert row.control_value is None and row.control_users == 0


def test_holdout_report_has_quantile_rows(db):
    seeded_metrics()
    _metric("watch_p90", "watch_time_quantile", 0.9)
    holdout = Holdout.objects.create(name="global", share=0.05, seed="h")
    rng = random.Random(3)
    rows, events, watch = [], [], {True: defaultdict(float), False: defaultdict(float)}
    for i in range(600):
        user, held = f"h-{i}", i % 2 == 0
        seen = START + timedelta(hours=rng.uniform(0, 48))
        rows.append(HoldoutExposure(holdout=holdout, user_id=user, in_holdout=held,
                                    first_seen_at=seen))  # fmt: skip
        for e in user_events(rng, user, seen, 1.0 if held else 1.5):
            events.append(e)
            if e["type"] == "watch" and datetime.fromisoformat(e["timestamp"]) >= seen:
                watch[held][user] += e["seconds"]
    HoldoutExposure.objects.bulk_create(rows)
    store_events(events)
    do_run_rollups()
    row = next(r for r in build_holdout_report().rows if r.metric.key == "watch_p90")
    held = np.array([watch[True][f"h-{i}"] for i in range(0, 600, 2)])
    rest = np.array([watch[False][f"h-{i}"] for i in range(1, 600, 2)])
    expected = quantile_difference(held, rest, quantile=0.9)
    assert row.holdout_value == pytest.approx(np.quantile(held, 0.9), rel=1e-9)
    assert row.series.latest.absolute_effect == pytest.approx(expected.absolute_effect, rel=1e-9)
    assert row.series.p_value == pytest.approx(expected.p_value, rel=1e-9)
    assert (row.holdout_users, row.rest_users) == (300, 300)


def test_quantile_level_is_required_for_quantile_kinds_only(db):
    with pytest.raises(ExperimentError) as error:
        do_create_metric_definition(None, {"key": "w", "name": "w", "kind": "watch_time_quantile"})
    assert "quantile_level" in str(error.value)
    with pytest.raises(ExperimentError) as error:
        do_create_metric_definition(
            None, {"key": "w", "name": "w", "kind": "watch_time", "quantile_level": 0.5}
        )
    assert "quantile_level" in str(error.value)
    with pytest.raises(ExperimentError) as error:
        do_create_metric_definition(
            None, {"key": "w", "name": "w", "kind": "watch_time_quantile", "quantile_level": 1.0}
        )
    assert "quantile_level" in str(error.value)
    metric = do_create_metric_definition(
        None, {"key": "w", "name": "w", "kind": "watch_time_quantile", "quantile_level": 0.9}
    )
    assert metric.statistic == "quantile" and not math.isnan(metric.quantile_level)


def test_metrics_api_takes_a_quantile_level_and_names_a_missing_one(db):
    key, _ = create_api_client("metric-bot", scopes=["manage"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"key": "watch-p90", "name": "Watch p90", "kind": "watch_time_quantile"}
    missing = api.post("/api/v1/metrics", body, format="json")
    assert missing.status_code == 400 and "quantile_level" in missing.json(), missing.json()
    created = api.post("/api/v1/metrics", body | {"quantile_level": 0.9}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["statistic"] == "quantile" and created.json()["quantile_level"] == 0.9
    wrong = api.post(
        "/api/v1/metrics",
        {"key": "w2", "name": "W", "kind": "watch_time", "quantile_level": 0.5},
        format="json",
    )
    assert wrong.status_code == 400 and "quantile_level" in wrong.json(), wrong.json()


def test_a_quantile_metric_without_a_level_says_so(db):
    data = generate(users=40, seed=6)
    # Written around MetricDefinition.clean (which refuses it), as a raw insert could.
    data.experiment.primary_metric = MetricDefinition.objects.create(
        key="no-level", name="no level", kind="watch_time_quantile"
    )
    data.experiment.save()
    do_run_rollups()
    row = build_experiment_report(data.experiment).primary[0]
    assert row.verdict.text == "no quantile level set for this metric"
    assert row.analysis is None and row.series.p_value is None
    holdout_row = next(
        r
        for r in build_holdout_report(Holdout.objects.create(name="h", share=0.05, seed="h")).rows
        if r.metric.key == "no-level"
    )
    assert holdout_row.verdict.text == "no quantile level set for this metric"
