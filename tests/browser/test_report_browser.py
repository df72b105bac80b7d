"""The experiment report in a real Chromium: log in, open a report, see the table and charts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture
def browser():
    """Debian's Chromium under Playwright; skips (every test that uses it) without Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page, base: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_path}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_report_shows_table_and_charts(live_server, browser, django_user_model):
    from analytics.services.rollups import do_run_rollups
    from tests.analytics.factories import generate

    generate(users=120, seed=21, lift=1.6, key="browser-exp")
    do_run_rollups()
    django_user_model.objects.create_superuser("analyst", "analyst@example.com", "pw-analyst")

    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    sign_in(page, live_server.url, "analyst", "pw-analyst", "/reports/browser-exp/")

    table = page.locator("table.metric-table[data-section=primary]")
    assert table.locator("tbody tr").count() == 1
    assert "CTR" in table.inner_text()
    assert page.locator("#guardrail-table tbody tr").count() == 2
    # The chart library draws on the canvases: their pixels are no longer blank.
    page.wait_for_function(
        """() => ['effect-chart', 'exposure-chart'].every((id) => {
            const canvas = document.getElementById(id);
            return window.Chart && Chart.getChart(canvas) && canvas.width > 0;
        })""",
        timeout=15_000,
    )
    painted = page.evaluate(
        """(id) => {
            const canvas = document.getElementById(id);
            const context = canvas.getContext('2d');
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let ink = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
            return ink;
        }""",
        "effect-chart",
    )
    assert painted > 1000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "experiment-report.png"), full_page=True)

    page.goto(f"{live_server.url}/reports/")
    assert "browser-exp" in page.locator("#experiment-list").inner_text()
    page.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sequential_three_arm_report_shows_decision_and_guardrail_tests(
    live_server, browser, django_user_model
):
    """Issue 13's report: recommendation, Holm across arms, always-valid guardrails, the
    experiment's own confidence level."""
    from analytics.services.rollups import do_run_rollups
    from tests.analytics.factories import generate
    from tests.analytics.test_reports import _add_arm

    data = generate(users=160, seed=31, lift=1.6, key="browser-seq")
    data.experiment.sequential_testing = True
    data.experiment.alpha = 0.1
    data.experiment.save()
    _add_arm(data, "treatment2", 80, 1.6, seed=32)
    do_run_rollups()
    django_user_model.objects.create_superuser("analyst", "analyst@example.com", "pw-analyst")

    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    sign_in(page, live_server.url, "analyst", "pw-analyst", "/reports/browser-seq/")

    assert "Recommendation" in page.locator("#decision-banner").inner_text()
    assert page.locator("#primary-correction").count() == 1
    primary = page.locator("table.metric-table[data-section=primary]").inner_text().lower()
    assert "90% confidence sequence" in primary and "p (holm)" in primary
    tests = page.locator("#guardrail-table .guardrail-test").all_inner_texts()
    assert tests and all(t in ("always-valid", "–") for t in tests)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "experiment-report-sequential.png"), full_page=True)
    page.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_report_with_quantile_metrics(live_server, browser, django_user_model):
    """Quantile rows: a sequential p90 primary with its chart, a median guardrail, a
    secondary p90 (issue 13)."""
    from analytics.services.rollups import do_run_rollups
    from experiments.models import MetricDefinition
    from tests.analytics.factories import generate

    data = generate(users=600, seed=31, lift=1.6, key="browser-quantile")

    def metric(key, kind, level, **fields):
        return MetricDefinition.objects.create(
            key=key, name=key, kind=kind, quantile_level=level, **fields
        )

    data.experiment.primary_metric = metric("watch_p90", "watch_time_quantile", 0.9)
    data.experiment.sequential_testing = True
    data.experiment.save()
    data.experiment.guardrail_metrics.add(
        metric("tfi_p50", "time_to_first_interaction_quantile", 0.5, higher_is_better=False,
               is_guardrail=True, noninferiority_margin=0.1)
    )  # fmt: skip
    data.experiment.secondary_metrics.add(metric("tfi_p90", "time_to_first_interaction_quantile",
                                                 0.9, higher_is_better=False))  # fmt: skip
    do_run_rollups()
    django_user_model.objects.create_superuser("analyst", "analyst@example.com", "pw-analyst")

    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    sign_in(page, live_server.url, "analyst", "pw-analyst", "/reports/browser-quantile/")

    # Headers are upper-cased by the style sheet: compare in lower case.
    primary = page.locator("table.metric-table[data-section=primary]").inner_text().lower()
    assert "watch_p90 (p90 of per-user values)" in primary and "confidence sequence" in primary
    guardrails = page.locator("#guardrail-table").inner_text().lower()
    assert "tfi_p50 (p50 of per-user values)" in guardrails
    secondary = page.locator("table.metric-table[data-section=secondary]").inner_text().lower()
    assert "tfi_p90 (p90 of per-user values)" in secondary
    page.wait_for_function(
        """() => {
            const canvas = document.getElementById('effect-chart');
            return window.Chart && Chart.getChart(canvas) && canvas.width > 0;
        }""",
        timeout=15_000,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "experiment-report-quantiles.png"), full_page=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_report_with_analysis_options_says_what_it_applied(live_server, browser, django_user_model):
    """CTR one-sided and sequential with an informative prior and CUPED on the pre-period
    clicks and impressions; winsorised watch time: the table names each option, and the
    effect chart still draws a one-sided (half-line) band."""
    from analytics.services.rollups import do_run_rollups
    from tests.analytics.factories import generate

    data = generate(users=160, seed=31, lift=1.6, key="browser-options")
    data.experiment.sequential_testing = True
    data.experiment.save()
    ctr = data.experiment.primary_metric
    ctr.test_sides, ctr.informative_prior, ctr.prior_stddev = "one-sided", True, 0.2
    ctr.save()
    watch = data.experiment.secondary_metrics.get(key="watch_time")
    watch.winsorize_percentile = 0.95
    watch.save()
    do_run_rollups()
    django_user_model.objects.create_superuser("analyst", "analyst@example.com", "pw-analyst")

    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    sign_in(page, live_server.url, "analyst", "pw-analyst", "/reports/browser-options/")

    primary = page.locator("table.metric-table[data-section=primary]").inner_text()
    assert "CUPED: pre-period clicks, pre-period impressions" in primary
    assert "one-sided (treatment higher)" in primary and "prior N(+0, 0.2²)" in primary
    assert "+∞)" in primary
    secondary = page.locator("table.metric-table[data-section=secondary]").inner_text()
    assert "winsorised at " in secondary and "95th percentile of pooled users" in secondary
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('effect-chart'))",
        timeout=15_000,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "experiment-report-options.png"), full_page=True)
    page.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_report_with_a_segment_breakdown(live_server, browser, django_user_model):
    """Results per device, with the exploratory warning naming the Holm correction and a row
    per value ("(not set)" included), reached from the report's own link (issue 13)."""
    from analytics.services.rollups import do_run_rollups
    from assignment.models import Exposure
    from experiments.models import Experiment
    from tests.analytics.factories import generate

    data = generate(users=300, seed=41, lift=1.6, key="browser-segments")
    Experiment.objects.filter(pk=data.experiment.pk).update(segment_attributes=["device"])
    devices = ("ios", "ios", "android", "android", "web")
    for exposure in Exposure.objects.filter(experiment=data.experiment):
        index = int(exposure.user_id.rsplit("u", 1)[1])
        exposure.segments = {} if index % 7 == 0 else {"device": devices[index % 5]}
        exposure.save(update_fields=["segments"])
    do_run_rollups()
    django_user_model.objects.create_superuser("analyst", "analyst@example.com", "pw-analyst")

    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    sign_in(page, live_server.url, "analyst", "pw-analyst", "/reports/browser-segments/")
    assert page.locator("#segment-table").count() == 0  # only on request
    page.click("#segment-links a:text-is('device')")
    page.wait_for_selector("#segment-table")
    warning = page.locator("#segment-warning").inner_text()
    assert "Exploratory" in warning and "Holm" in warning
    assert page.locator("#segment-table").get_attribute("data-attribute") == "device"
    shown = set(page.locator("#segment-table tr.segment-row").evaluate_all(
        "rows => rows.map(row => row.dataset.segment)"
    ))  # fmt: skip
    assert shown == {"ios", "android", "web", "(not set)"}, shown
    assert page.locator("#segment-csv-link").get_attribute("href").endswith("segment=device")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#segments").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "experiment-report-segments.png"), full_page=True)
    page.close()
