"""Reports that stay readable with little or bad data: empty states that say what is missing
and how to get it, relative effects beyond a sane range shown as "not meaningful", the holdout
chart one per metric, and every chart's plotted data downloadable."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.html import escape

from analytics.models import Event
from analytics.reports import experiment as experiment_module
from analytics.reports import holdout as holdout_module
from analytics.reports.experiment import build_experiment_report
from analytics.reports.holdout import build_holdout_report
from analytics.reports.metrics import plotted_relative_percent, relative_problem
from analytics.services.rollups import do_run_rollups
from assignment.models import Exposure
from experiments import services
from experiments.models import Holdout
from tests.analytics.factories import (
    START,
    generate,
    holdout_world,
    make_experiment,
    seeded_metrics,
)

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def chart_json(page: str, script_id: str) -> dict:
    start = page.index(f'id="{script_id}"')
    body = page[page.index(">", start) + 1 : page.index("</script>", start)]
    return json.loads(body)  # strict: NaN or Infinity would break the browser's JSON.parse


# --- relative effects ------------------------------------------------------------------------


def test_a_relative_effect_beyond_the_sane_range_is_not_meaningful():
    assert relative_problem(None) == "" and relative_problem(0.05) == ""
    assert relative_problem(-9.99) == ""  # -999 %: extreme but possible
    problem = relative_problem(-20792.21)
    assert problem.startswith("relative effect not meaningful")
    assert "-2,079,221%" in problem and "control mean near 0" in problem
    note = "Fisher's exact test: ...; relative effect not meaningful: the control mean is x"
    assert (
        relative_problem(math.nan, note) == "relative effect not meaningful: the control mean is x"
    )
    assert relative_problem(math.nan).startswith("relative effect not defined")


def test_plotted_relative_effects_leave_gaps_instead_of_nan_or_outliers():
    assert plotted_relative_percent([0.1, math.nan, -20792.21, -0.5]) == [10.0, None, None, -50.0]


def _export(staff_client) -> dict[tuple[str, str], dict[str, str]]:
    response = staff_client.get("/reports/exp/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = csv.DictReader(io.StringIO(response.content.decode()))
    return {(r["section"], r["metric"]): r for r in rows if not r["segment_attribute"]}


def _api_rows(api_client) -> dict[tuple[str, str], dict]:
    body = api_client.get("/api/v1/experiments/exp/results").json()
    sections = ("primary", "guardrails", "secondary")
    return {(row["section"], row["metric"]): row for name in sections for row in body[name]}


def test_the_csv_leaves_an_undefined_relative_effect_empty_with_the_pages_reason(
    staff_client, api_client
):
    data = generate(users=120, seed=21, lift=1.6)
    control_users = [user for user, (variant, _) in data.exposures.items() if variant == "control"]
    # the control arm never clicks: its CTR is 0, so effect / control mean is undefined
    Event.objects.filter(type="click", user_id__in=control_users).delete()
    do_run_rollups()
    csv_row = _export(staff_client)[("primary", "ctr")]
    api_row = _api_rows(api_client)[("primary", "ctr")]
    reason = api_row["series"]["relative_problem"]
    assert reason.startswith("relative effect not meaningful")
    assert csv_row["relative_problem"] == reason
    assert [csv_row[c] for c in ("relative_effect", "relative_ci_lower", "relative_ci_upper")] == [
        "", "", ""
    ]  # fmt: skip
    assert float(csv_row["absolute_effect"]) > 0  # the absolute effect stays: it is meaningful
    page = staff_client.get("/reports/exp/").content.decode()
    assert escape(reason) in page
    # rows whose relative effect is usable keep it, with an empty reason
    watch = _export(staff_client)[("secondary", "watch_time")]
    assert watch["relative_problem"] == "" and math.isfinite(float(watch["relative_effect"]))


def test_the_csv_leaves_a_relative_effect_beyond_the_sane_range_empty(
    staff_client, api_client, monkeypatch
):
    generate(users=120, seed=21, lift=1.6)
    do_run_rollups()
    real = experiment_module.analyze_series

    def ctr_near_zero_baseline(kind, *args, **kwargs):
        series = real(kind, *args, **kwargs)
        if kind == "ctr":  # what a control mean near 0 gives: the holdout's -2,079,221 %
            series.latest = dataclasses.replace(series.latest, relative_effect=-20792.21)
        return series

    monkeypatch.setattr(experiment_module, "analyze_series", ctr_near_zero_baseline)
    csv_row = _export(staff_client)[("primary", "ctr")]
    reason = _api_rows(api_client)[("primary", "ctr")]["series"]["relative_problem"]
    assert "-2,079,221%" in reason and csv_row["relative_problem"] == reason
    assert csv_row["relative_effect"] == csv_row["relative_ci_lower"] == ""
    assert "-20792" not in staff_client.get("/reports/exp/export.csv").content.decode()
    assert escape(reason) in staff_client.get("/reports/exp/").content.decode()


# --- empty states ----------------------------------------------------------------------------


def _running(key: str):
    seeded_metrics()
    experiment = services.do_create_experiment(
        key=key,
        name=key,
        primary_metric=seeded_metrics()["ctr"],
        variants=[{"key": "control", "is_control": True}, {"key": "treatment"}],
    )
    return services.do_start_experiment(experiment, None)


def test_a_draft_report_says_to_start_the_experiment(staff_client):
    seeded_metrics()
    services.do_create_experiment(
        key="not-started",
        name="n",
        variants=[{"key": "control", "is_control": True}, {"key": "treatment"}],
    )
    page = staff_client.get("/reports/not-started/").content.decode()
    assert page.count("the experiment has not started. Start it") == 2  # both charts
    assert 'id="effect-chart"' not in page and "/api/v1/assignments" in page


def test_a_report_before_any_rollup_says_how_to_run_one(staff_client):
    _running("no-rollup")
    page = staff_client.get("/reports/no-rollup/").content.decode()
    assert "no rollup has run yet" in page and "make manage ARGS=&quot;rollup&quot;" in page


def test_exposures_without_events_say_that_events_are_missing(staff_client):
    experiment, control, treatment = make_experiment("no-events")
    Exposure.objects.bulk_create(
        Exposure(
            experiment=experiment,
            phase=1,
            variant=control if i % 2 else treatment,
            user_id=f"u{i}",
            first_exposed_at=START + timedelta(hours=i),
        )
        for i in range(10)
    )
    do_run_rollups()
    page = staff_client.get("/reports/no-events/").content.decode()
    assert 'id="exposure-chart"' in page  # exposures are there to draw
    empty = page.split('data-chart="effect">', 1)[1].split("</p>", 1)[0]
    assert "10 users exposed, but no CTR to compare yet" in empty
    assert "POST /api/v1/events" in empty and "rollup" in empty
    assert 'data-chart="exposures" download' in page


def test_a_report_with_data_draws_both_charts_with_their_download_links(staff_client):
    generate(users=80, key="full")
    do_run_rollups()
    page = staff_client.get("/reports/full/").content.decode()
    assert 'class="empty-state"' not in page
    assert 'id="effect-chart"' in page and 'id="exposure-chart"' in page
    for chart in ("effect", "exposures"):
        assert reverse("experiment-chart-csv", args=["full", chart]) + "?phase=1" in page


# --- chart data downloads --------------------------------------------------------------------


def test_each_chart_downloads_exactly_its_plotted_series(staff_client):
    data = generate(users=120, key="dl", lift=1.6)
    do_run_rollups()
    report = build_experiment_report(data.experiment)
    page = staff_client.get("/reports/dl/").content.decode()
    assert chart_json(page, "report-chart-data") == json.loads(json.dumps(report.chart))

    rows = csv_rows(staff_client.get("/reports/dl/charts/effect.csv?phase=1"))
    assert rows[0] == ["day", "variant", "effect_pp", "lower_pp", "upper_pp"]
    (series,) = report.chart["effect"]
    assert [r[0] for r in rows[1:]] == series["days"]
    assert [float(r[2]) for r in rows[1:]] == series["effect"]
    assert [float(r[4]) for r in rows[1:]] == series["upper"]

    rows = csv_rows(staff_client.get("/reports/dl/charts/exposures.csv"))
    assert rows[0] == ["day", "variant", "users_first_exposed"]
    assert sum(int(r[2]) for r in rows[1:]) == 120 == report.total_exposed


def test_bad_chart_downloads_are_4xx(staff_client):
    generate(users=20, key="bad-dl")
    assert staff_client.get("/reports/bad-dl/charts/nope.csv").status_code == 404
    assert staff_client.get("/reports/bad-dl/charts/effect.csv?phase=x").status_code == 400
    assert staff_client.get("/reports/missing/charts/effect.csv").status_code == 404
    assert staff_client.get("/reports/holdout/charts/ctr.csv").status_code == 404  # no holdout


def test_chart_downloads_need_an_analyst(client):
    generate(users=20, key="private")
    response = client.get("/reports/private/charts/effect.csv")
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_planner_power_curve_downloads_its_points(staff_client):
    page = staff_client.get("/planner/").content.decode()
    chart = chart_json(page, "planner-chart")
    link = page.split('data-chart="power-curve"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    rows = csv_rows(staff_client.get(link.replace("&amp;", "&")))
    assert rows[0] == [chart["x_title"], "power_percent"]
    assert [[float(x), float(y)] for x, y in rows[1:]] == [
        [p["x"], p["y"]] for p in chart["points"]
    ]


# --- the holdout report ----------------------------------------------------------------------


def _holdout_world() -> Holdout:
    holdout = holdout_world()
    do_run_rollups()
    return holdout


def test_the_holdout_report_draws_one_chart_per_metric_and_each_downloads(staff_client):
    _holdout_world()
    report = build_holdout_report()
    page = staff_client.get("/reports/holdout/").content.decode()
    lines = chart_json(page, "holdout-chart-data")["lines"]
    assert len(lines) >= 2
    for line in lines:
        assert f'id="holdout-chart-{line["key"]}"' in page
        rows = csv_rows(staff_client.get(reverse("holdout-chart-csv", args=[line["key"]])))
        assert rows[0] == ["day", "metric", "relative_effect_percent"]
        assert [r[0] for r in rows[1:]] == line["days"]
        assert [float(r[2]) if r[2] else None for r in rows[1:]] == line["relative"]
    drawn = {line["key"] for line in lines}
    for row in report.rows:  # a metric without a chart says why: no data, or nothing meaningful
        if row.metric.key not in drawn:
            assert row.missing and escape(row.missing) in page
            assert f'id="holdout-chart-{row.metric.key}"' not in page
    # watch time's holdout mean (12 users) is not distinguishable from 0 on any day
    watch = next(row for row in report.rows if row.metric.key == "watch_time")
    assert watch.series.days and watch.missing.startswith("Nothing to draw")
    assert staff_client.get("/reports/holdout/charts/nope.csv").status_code == 404


def test_one_outlier_metric_neither_flattens_the_others_nor_shows_as_a_lift(
    staff_client, monkeypatch
):
    _holdout_world()
    real = holdout_module.analyze_series

    def ctr_near_zero_baseline(kind, *args, **kwargs):
        series = real(kind, *args, **kwargs)
        if kind == "ctr":
            # what a control mean near 0 gives on the last day (the reported -2,079,221 %)
            series.relative[-1] = -20792.21
            series.latest = dataclasses.replace(series.latest, relative_effect=-20792.21)
        return series

    monkeypatch.setattr(holdout_module, "analyze_series", ctr_near_zero_baseline)
    page = staff_client.get("/reports/holdout/").content.decode()
    row = page.split("<td>CTR</td>", 1)[1].split("</tr>", 1)[0]
    assert "not meaningful" in row and "-2,079,221%" in row and "-2079221" not in row
    lines = {line["key"]: line for line in chart_json(page, "holdout-chart-data")["lines"]}
    ctr = lines["ctr"]["relative"]
    assert ctr[-1] is None and all(v is not None for v in ctr[:-1])  # a gap, not the scale
    others = [v for k, line in lines.items() if k != "ctr" for v in line["relative"]]
    assert others and all(v is None or abs(v) <= 1000 for v in others)


def test_an_empty_holdout_says_how_to_fill_it(staff_client):
    seeded_metrics()
    Holdout.objects.create(name="fresh", share=0.05, seed="f")
    page = staff_client.get("/reports/holdout/").content.decode()
    assert 'id="holdout-empty"' in page and "No users counted yet" in page
    assert 'id="holdout-charts"' not in page
