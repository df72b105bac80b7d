"""Per-metric analysis options in the report: CUPED for CTR with the pre-period clicks and
impressions, winsorised watch time, one-sided tests and an informative prior; each equals the
statistics library run on per-user values computed straight from the raw events, and the page
and the results API say which options were applied."""

from __future__ import annotations

import html
import math
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
import pytest
from rest_framework.test import APIClient
from scipy.stats import norm

from accounts.services import create_api_client
from analytics.reports.experiment import build_experiment_report
from analytics.services.rollups import do_run_rollups
from analytics.stats import CovariateSums, SufficientStats, analyze_metric, winsorization_cap
from tests.analytics.factories import START, generate

NOW = START + timedelta(days=3)


def per_user(data, variant_key: str) -> dict[str, np.ndarray]:
    """Each exposed user's clicks, impressions and watch seconds, after exposure and in the
    pre-period before it (users without events: zeros)."""
    users = sorted(u for u, (v, _) in data.exposures.items() if v == variant_key)
    amounts = {u: defaultdict(float) for u in users}
    for e in data.events:
        if e["user_id"] not in amounts:
            continue
        period = (
            "pre_"
            if datetime.fromisoformat(e["timestamp"]) < data.exposures[e["user_id"]][1]
            else ""
        )
        u = amounts[e["user_id"]]
        if e["type"] == "impression":
            u[f"{period}imp"] += len(e["items"])
        elif e["type"] == "click":
            u[f"{period}clk"] += 1
        elif e["type"] == "watch":
            u[f"{period}w"] += e["seconds"]
    names = ("clk", "imp", "w", "pre_clk", "pre_imp", "pre_w")
    return {name: np.array([amounts[u][name] for u in users]) for name in names}


@pytest.fixture
def data(db):
    generated = generate(users=160, seed=31, lift=1.4)
    do_run_rollups()
    return generated


def _row(report, section: str, key: str):
    return next(r for r in getattr(report, section) if r.metric.key == key)


def test_ctr_is_adjusted_for_pre_period_clicks_and_impressions(data):
    report = build_experiment_report(data.experiment, now=NOW)
    row = _row(report, "primary", "ctr")
    assert row.series.applied.cuped_covariates == ["pre-period clicks", "pre-period impressions"]
    c, t = per_user(data, "control"), per_user(data, "treatment")
    expected = analyze_metric(
        "ratio",
        SufficientStats.from_arrays(c["clk"], c["imp"]),
        SufficientStats.from_arrays(t["clk"], t["imp"]),
        control_covariates=CovariateSums.from_arrays(
            c["clk"], [c["pre_clk"], c["pre_imp"]], y=c["imp"]
        ),
        treatment_covariates=CovariateSums.from_arrays(
            t["clk"], [t["pre_clk"], t["pre_imp"]], y=t["imp"]
        ),
    )
    got = row.analysis
    assert got.cuped_covariates == 2  # (this data has no pre-period signal to gain from)
    for name in ("absolute_effect", "std_error", "p_value", "relative_effect"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9), name


def test_winsorised_watch_time_caps_at_the_pooled_percentile(data):
    watch = data.experiment.secondary_metrics.get(key="watch_time")
    watch.winsorize_percentile = 0.9
    watch.save()
    report = build_experiment_report(data.experiment, now=NOW)
    row = _row(report, "secondary", "watch_time")
    c, t = per_user(data, "control"), per_user(data, "treatment")
    cap = winsorization_cap(np.concatenate([c["w"], t["w"]]), 0.9)
    assert cap > 0 and np.mean(np.concatenate([c["w"], t["w"]]) > cap) > 0.05
    assert row.series.applied.winsorized_at == pytest.approx(cap, rel=1e-12)
    expected = analyze_metric(
        "mean",
        SufficientStats.from_arrays(np.minimum(c["w"], cap), covariate=c["pre_w"]),
        SufficientStats.from_arrays(np.minimum(t["w"], cap), covariate=t["pre_w"]),
    )
    got = row.analysis
    for name in ("absolute_effect", "std_error", "p_value", "control_mean"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9), name
    assert row.control_value == pytest.approx(np.minimum(c["w"], cap).mean(), rel=1e-9)
    assert row.series.applied.summary[0].startswith("winsorised at ")
    assert "90th percentile" in row.series.applied.summary[0]


def _gbstats_chance_to_win(d: float, s: float, prior_mean: float, prior_sd: float) -> float:
    """GrowthBook's ``EffectBayesianABTest`` with a proper prior: the posterior precision and
    mean of the relative effect, then ``P(effect > 0)``."""
    prec = 1 / s**2 + 1 / prior_sd**2
    mean = (d / s**2 + prior_mean / prior_sd**2) / prec
    return float(norm.sf(0, mean, math.sqrt(1 / prec)))


@pytest.mark.parametrize("sequential", [False, True])
def test_one_sided_test_and_informative_prior(data, sequential):
    ctr = data.experiment.primary_metric
    ctr.test_sides, ctr.informative_prior = "one-sided", True
    ctr.prior_mean, ctr.prior_stddev = -0.02, 0.05
    ctr.save()
    data.experiment.sequential_testing = sequential
    data.experiment.save()
    row = _row(build_experiment_report(data.experiment, now=NOW), "primary", "ctr")
    got = row.analysis
    assert got.alternative == "larger" and row.series.applied.alternative == "larger"
    assert "one-sided (treatment higher)" in row.series.applied.summary
    assert row.series.applied.prior == "prior N(-0.02, 0.05²) on the relative effect"
    if sequential:
        assert row.series.ci[1] == math.inf and all(u == math.inf for u in row.series.upper)
    else:
        assert got.absolute_ci[1] == math.inf
    # The same effect and standard error, two-sided, give the one-sided p-value and prior.
    two_sided = data.experiment.primary_metric
    two_sided.test_sides, two_sided.informative_prior = "two-sided", False
    two_sided.save()
    plain = _row(build_experiment_report(data.experiment, now=NOW), "primary", "ctr").analysis
    assert got.absolute_effect == pytest.approx(plain.absolute_effect, rel=1e-12)
    if not sequential:
        expected_p = norm.sf(plain.absolute_effect / plain.std_error)
        assert got.p_value == pytest.approx(expected_p, rel=1e-9)
    if not sequential:  # (sequential: the relative interval is the always-valid one)
        lift_se = (plain.relative_ci[1] - plain.relative_ci[0]) / (2 * norm.ppf(0.975))
        expected = _gbstats_chance_to_win(plain.relative_effect, lift_se, -0.02, 0.05)
        assert got.chance_to_win == pytest.approx(expected, abs=1e-6)
        flat = norm.sf(0, plain.relative_effect, lift_se)
        assert plain.chance_to_win == pytest.approx(flat, abs=1e-6)
        assert got.chance_to_win != pytest.approx(plain.chance_to_win, abs=1e-3)


def test_page_and_results_api_say_which_options_were_applied(data, staff_client):
    ctr = data.experiment.primary_metric
    ctr.test_sides, ctr.informative_prior = "one-sided", True
    ctr.save()
    watch = data.experiment.secondary_metrics.get(key="watch_time")
    watch.winsorize_percentile = 0.95
    watch.save()
    key, _ = create_api_client("analyst-app", scopes=["analyze"])
    analyst = APIClient()
    analyst.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = analyst.get("/api/v1/experiments/exp/results").json()
    page = html.unescape(staff_client.get("/reports/exp/").content.decode())
    primary = body["primary"][0]["series"]["applied"]
    assert primary["alternative"] == "larger"
    assert primary["cuped_covariates"] == ["pre-period clicks", "pre-period impressions"]
    assert primary["prior"].startswith("prior N(")
    watch_row = next(r for r in body["secondary"] if r["metric"] == "watch_time")
    applied = watch_row["series"]["applied"]
    assert applied["winsorized_at"] > 0 and applied["winsorize_percentile"] == 0.95
    assert applied["cuped_covariates"] == ["pre-period watch time"]
    for phrase in primary["summary"] + applied["summary"]:
        assert phrase in page
    assert "(−∞" not in page  # "larger": the open end is above
    assert "+∞)" in page
