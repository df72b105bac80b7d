"""Report pages: numbers equal the raw events' and the stats library's; SRM, CSV, holdout."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from analytics.reports.experiment import build_experiment_report
from analytics.reports.metrics import covariate_sums, sufficient_stats
from analytics.selectors import experiment_series
from analytics.services.rollups import do_run_rollups
from analytics.stats import analyze_metric, noninferiority_test
from assignment.models import Exposure
from experiments.models import Experiment
from tests.analytics.factories import (
    START,
    generate,
    holdout_world,
    store_events,
    user_events,
)
from tests.analytics.test_rollup import direct_metrics

NOW = START + timedelta(days=3)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def rolled(db):
    data = generate(users=120, seed=21, lift=1.6)
    do_run_rollups()
    return data


def test_report_pages_need_staff(client, rolled):
    for url in ("/reports/", "/reports/exp/", "/reports/exp/export.csv", "/reports/holdout/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_experiment_list_shows_progress_and_verdict(
    staff_client, rolled, django_assert_max_num_queries
):
    generate(users=20, seed=2, key="other")
    with django_assert_max_num_queries(8):
        response = staff_client.get("/reports/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Experiment exp" in text and "Experiment other" in text
    assert "/ 7" in text  # days running against the 7-day minimum
    assert "not enough data yet" in text  # "other" is not rolled up yet
    assert "treatment better" in text or "no significant difference" in text


def test_report_values_equal_raw_events_and_stats_library(staff_client, rolled):
    response = staff_client.get("/reports/exp/export.csv")
    assert response.status_code == 200
    rows = {(r["section"], r["metric"], r["variant"]): r for r in csv_rows(response)}
    control = direct_metrics(rolled, "control")
    treatment = direct_metrics(rolled, "treatment")
    ctr = rows[("primary", "ctr", "treatment")]
    assert float(ctr["control_value"]) == pytest.approx(control["ctr"], rel=1e-9)
    assert float(ctr["treatment_value"]) == pytest.approx(treatment["ctr"], rel=1e-9)
    ab = rows[("guardrail", "session_abandonment", "treatment")]
    assert float(ab["control_value"]) == pytest.approx(control["abandonment"], rel=1e-9)
    assert float(ab["treatment_value"]) == pytest.approx(treatment["abandonment"], rel=1e-9)
    tfi = rows[("guardrail", "time_to_first_interaction", "treatment")]
    assert float(tfi["treatment_value"]) == pytest.approx(treatment["tfi"], rel=1e-9)
    assert int(tfi["treatment_users"]) == treatment["tfi_n"]

    series = experiment_series(rolled.experiment.id, 1)
    c_sums = series[rolled.control.id].latest
    t_sums = series[rolled.treatment.id].latest
    expected = analyze_metric(
        "ratio",
        sufficient_stats(c_sums, "ctr"),
        sufficient_stats(t_sums, "ctr"),
        control_covariates=covariate_sums(c_sums, "ctr"),  # pre-period clicks, impressions
        treatment_covariates=covariate_sums(t_sums, "ctr"),
    )
    assert expected.cuped_covariates == 2
    assert float(ctr["p_value"]) == pytest.approx(expected.p_value, rel=1e-9)
    assert float(ctr["absolute_effect"]) == pytest.approx(expected.absolute_effect, rel=1e-9)
    assert float(ctr["ci_lower"]) == pytest.approx(expected.absolute_ci[0], rel=1e-9)
    guard = noninferiority_test(
        "ratio",
        sufficient_stats(c_sums, "session_abandonment"),
        sufficient_stats(t_sums, "session_abandonment"),
        margin=0.02,
        margin_relative=True,
        bad_direction="increase",
    )
    assert float(ab["noninferiority_p_value"]) == pytest.approx(guard.p_value, rel=1e-9)
    secondary = [r for r in rows.values() if r["section"] == "secondary"]
    assert len(secondary) == 3 and all(r["adjusted_p_value"] for r in secondary)
    assert all(float(r["adjusted_p_value"]) >= float(r["p_value"]) for r in secondary)


def test_report_page_has_tables_charts_and_preliminary_banner(staff_client, rolled):
    rolled.experiment.started_at = datetime.now(UTC) - timedelta(days=2)
    rolled.experiment.save()
    response = staff_client.get("/reports/exp/")
    assert response.status_code == 200
    text = response.content.decode()
    for needle in (
        "metric-table",
        "guardrail-table",
        "effect-chart",
        "exposure-chart",
        "report-chart-data",
        "chart.umd.js",
        "preliminary-banner",
        "Download CSV",
    ):
        assert needle in text, needle
    assert "srm-banner" not in text


def test_srm_banner_when_split_is_off(staff_client, db):
    data = generate(users=40, seed=4, key="skewed")
    extra = [
        Exposure(
            experiment=data.experiment,
            phase=1,
            variant=data.treatment,
            user_id=f"extra-{i}",
            first_exposed_at=START + timedelta(hours=i % 48),
        )
        for i in range(120)
    ]
    Exposure.objects.bulk_create(extra)
    do_run_rollups()
    response = staff_client.get("/reports/skewed/")
    text = response.content.decode()
    assert "srm-banner" in text and "Sample ratio mismatch" in text
    report = build_experiment_report(data.experiment)
    assert report.srm.flagged and report.primary[0].verdict.text.startswith("invalid")


def test_sequential_report_uses_always_valid_p_values(staff_client, db):
    data = generate(users=80, seed=8, key="seq")
    data.experiment.sequential_testing = True
    data.experiment.save()
    do_run_rollups()
    report = build_experiment_report(data.experiment)
    row = report.primary[0]
    assert row.series.sequential_p_value is not None
    assert row.series.p_value == row.series.sequential_p_value
    assert row.series.sequential_p_value >= row.series.latest.p_value - 1e-12
    assert "always-valid p" in staff_client.get("/reports/seq/").content.decode()


def test_bad_requests(staff_client, rolled):
    assert staff_client.get("/reports/nope/").status_code == 404
    assert staff_client.get("/reports/exp/?phase=x").status_code == 400
    assert staff_client.get("/reports/exp/?phase=9").status_code == 400


def test_empty_experiment_renders_without_data(staff_client, db):
    from tests.analytics.factories import make_experiment

    make_experiment("empty")
    response = staff_client.get("/reports/empty/")
    assert response.status_code == 200
    assert "not enough data yet" in response.content.decode()
    assert staff_client.get("/reports/").status_code == 200


def test_holdout_report(staff_client, db):
    holdout_world(users=60, seed=1)
    do_run_rollups()
    response = staff_client.get("/reports/holdout/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "holdout-table" in text and "holdout-chart" in text
    assert "12 users held out" in text and "48 other users" in text
    assert text.count("<tr><td>") >= 6


def test_holdout_page_without_holdout(staff_client, db):
    response = staff_client.get("/reports/holdout/")
    assert response.status_code == 200 and "No active holdout" in response.content.decode()


def test_rollup_command_and_task(db, capsys):
    from django.core.management import call_command

    from analytics.tasks import run_rollups

    generate(users=10, seed=1)
    call_command("rollup")
    assert "rollup (full)" in capsys.readouterr().out
    result = run_rollups.delay().get()
    assert result["full"] is False
    call_command("rollup", "--full")
    assert "rollup (full)" in capsys.readouterr().out


def test_ctr_by_model_version_is_attributed_by_request_id(staff_client, db):
    from analytics.services import record_served_lists
    from tests.analytics.factories import event, make_experiment

    make_experiment("attr")
    t = START + timedelta(hours=5)
    lists = []
    events = []
    for i, (variant, model) in enumerate(
        [("control", "pop@1"), ("treatment", "tt@2"), ("treatment", "tt@3"), ("treatment", "tt@2")]
    ):
        rid = f"req-{i}"
        lists.append(
            {
                "request_id": rid,
                "user_id": f"a{i}",
                "experiment_key": "attr",
                "variant_key": variant,
                "model_version": model,
                "served_at": t,
                "items": [{"item_id": "x", "position": 0}, {"item_id": "y", "position": 1}],
            }
        )
        events.append(event(f"imp-{i}", "impression", f"a{i}", t, request_id=rid, items=["x", "y"]))
        for c in range(i):
            events.append(event(f"clk-{i}-{c}", "click", f"a{i}", t, request_id=rid, item_id="x"))
    events.append(event("orphan", "click", "a0", t, request_id="unknown", item_id="x"))
    record_served_lists(lists)
    store_events(events)
    do_run_rollups()
    report = build_experiment_report(Experiment.objects.get(key="attr"))
    got = {
        (m.variant_key, m.model_version): (m.impressions, m.clicks) for m in report.model_versions
    }
    assert got == {
        ("control", "pop@1"): (2, 0),
        ("treatment", "tt@2"): (4, 4),
        ("treatment", "tt@3"): (2, 2),
    }
    assert "model-version-table" in staff_client.get("/reports/attr/").content.decode()


def test_csv_carries_the_sums_behind_each_value(staff_client, rolled):
    """numerator/denominator columns: sum_x and sum_y (ratio) or n, from the rollup's sums."""
    rows = {
        (r["metric"], r["variant"]): r
        for r in csv_rows(staff_client.get("/reports/exp/export.csv"))
    }
    series = experiment_series(rolled.experiment.id, 1)
    for side, arm in (("control", rolled.control), ("treatment", rolled.treatment)):
        ctr = sufficient_stats(series[arm.id].latest, "ctr")
        row = rows[("ctr", "treatment")]
        assert float(row[f"{side}_numerator"]) == ctr.sum_x
        assert float(row[f"{side}_denominator"]) == ctr.sum_y
        assert float(row[f"{side}_numerator"]) / ctr.sum_y == pytest.approx(
            float(row[f"{side}_value"]), rel=1e-12
        )


def test_page_shows_the_experiments_own_confidence_level(staff_client, rolled):
    rolled.experiment.alpha = 0.1
    rolled.experiment.save()
    text = staff_client.get("/reports/exp/").content.decode()
    assert "90% CI" in text and "95% CI" not in text


def _add_arm(data, key: str, users: int, lift: float, seed: int):
    from experiments.models import Variant

    rng = random.Random(seed)
    variant = Variant.objects.create(
        experiment=data.experiment, key=key, name=key, weight=1, position=2
    )
    exposures, events = [], []
    for i in range(users):
        user = f"{key}-u{i}"
        seen = START + timedelta(seconds=rng.uniform(0, 3 * 86400 - 1))
        exposures.append(Exposure(experiment=data.experiment, phase=1, variant=variant,
                                  user_id=user, first_exposed_at=seen))  # fmt: skip
        events.extend(user_events(rng, user, seen, lift))
    Exposure.objects.bulk_create(exposures)
    store_events(events)
    return variant


@pytest.mark.parametrize("sequential", [False, True])
def test_more_than_two_arms_correct_the_primary_across_arms(staff_client, db, sequential):
    from analytics.reports.metrics import analyze_series
    from analytics.stats import adjust_pvalues

    data = generate(users=160, seed=31, key="three", lift=1.6)
    data.experiment.sequential_testing = sequential
    data.experiment.save()
    _add_arm(data, "treatment2", 80, 1.6, seed=32)
    do_run_rollups()
    report = build_experiment_report(data.experiment)
    assert report.primary_adjusted and len(report.primary) == 2
    raw = [row.series.p_value for row in report.primary]
    expected = adjust_pvalues(raw, method="holm")
    assert [row.adjusted_p_value for row in report.primary] == pytest.approx(expected)
    for row, p in zip(report.primary, expected, strict=True):
        assert (row.verdict.css == "neutral") == (p >= 0.05)
    if sequential:  # tuned to one comparison's planned users (2 x 1,000), not three arms'
        series = experiment_series(data.experiment.id, 1)
        control = series[data.control.id]
        again = analyze_series(
            "ctr", "ratio", control, series[data.treatment.id], alpha=0.05, sequential=True,
            planned_total=2000,
        )  # fmt: skip
        assert report.primary[0].series.sequential_p_value == again.sequential_p_value
        assert report.guardrails[0].guardrail.result.method == "always-valid"
    text = staff_client.get("/reports/three/").content.decode()
    assert "primary-correction" in text and "p (Holm)" in text


def test_report_rows_carry_the_bayesian_chance_to_win(staff_client, rolled):
    report = build_experiment_report(rolled.experiment)
    analysis = report.primary[0].analysis
    assert analysis.chance_to_win is not None and 0 <= analysis.chance_to_win <= 1
    text = staff_client.get("/reports/exp/").content.decode()
    assert "P(lift &gt; 0)" in text


def test_the_list_analyses_the_latest_day_only_and_decides_as_the_report(rolled):
    from analytics.reports.experiment import analyze_arms
    from analytics.reports.listing import experiment_summaries
    from analytics.selectors import current_phase_series

    experiment = Experiment.objects.get(key="exp")
    report = build_experiment_report(experiment)
    series = current_phase_series({experiment.id: 1})[experiment.id]
    now = datetime.now(UTC)
    listed = analyze_arms(experiment, 1, series, now=now, with_secondary=False, latest_only=True)
    full, latest = report.primary[0].series, listed.primary[0].series
    assert len(full.days) > 1 and latest.days == full.days[-1:]  # one day analysed, the last
    for name in ("absolute_effect", "relative_effect", "p_value", "chance_to_win"):
        assert getattr(latest.latest, name) == getattr(full.latest, name), name
    assert latest.latest.absolute_ci == full.latest.absolute_ci
    assert listed.decision == report.decision
    summary = experiment_summaries(keys=("exp",))[0]
    assert summary.decision == report.decision
    # a sequential test's always-valid p-value needs every look: the full series
    Experiment.objects.filter(pk=experiment.pk).update(sequential_testing=True)
    experiment = Experiment.objects.get(pk=experiment.pk)
    sequential = analyze_arms(experiment, 1, series, now=now, latest_only=True)
    assert sequential.primary[0].series.days == full.days
