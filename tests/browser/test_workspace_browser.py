"""The owner's and the analyst's day in a real Chromium, each step screenshotted, with axe-core.

Owner: sign in, look at the interleaving kind of the creation form, create an experiment with
two variants and targeting built with the condition builder, check the plan, create it, start
it, pause and resume it (both on the timeline), edit its weights (announced as phase 2 before
saving), see it on the home page, open its report.
Analyst: read a report, download its data and one chart's data, read the holdout report.
Every page passes axe-core with no serious or critical violation.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.browser.test_report_browser import ARTIFACTS, CHROMIUM, browser, sign_in  # noqa: F401

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci)"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class Walk:
    """A signed-in page that screenshots each step and checks it with axe-core."""

    def __init__(self, page, name: str):
        self.page, self.name, self.step = page, name, 0
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)

    def check(self, label: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.folder / f"{self.step:02d}-{label}.png"), full_page=True)
        self.page.add_script_tag(path=str(AXE))
        violations = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '))"""
        )
        assert violations == [], f"{label}: {violations}"


def test_owner_creates_starts_pauses_and_reads(live_server, browser, django_user_model):  # noqa: F811
    from tests.analytics.factories import seeded_metrics

    seeded_metrics()
    django_user_model.objects.create_superuser("owner", "owner@example.com", "pw-owner")
    # axe-core is injected as a script, which the production CSP forbids (it is tested on its
    # own in test_csp_browser.py): this walk bypasses it to audit each page.
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, bypass_csp=True)
    walk = Walk(page, "owner")
    sign_in(page, live_server.url, "owner", "pw-owner", "/")
    walk.check("home-empty")

    page.click("text=New experiment")
    # the kind: interleaving swaps the weights and the A/B plan for the rankers' explanation
    page.check("#id_kind_1")
    assert page.is_hidden("#id_variant_1_weight") and page.is_hidden("button[name=plan]")
    assert page.is_visible("#interleaving-plan") and page.is_visible("#id_interleaving_aa")
    walk.check("create-form-interleaving")
    page.check("#id_kind_0")
    assert page.is_visible("#id_variant_1_weight") and page.is_hidden("#interleaving-plan")
    page.fill("#id_key", "browser-owner")
    page.fill("#id_name", "Ranker in the browser")
    page.fill("#id_variant_1_weight", "1")
    page.click("#add-condition")
    page.fill(".c-attr", "platform")
    page.select_option(".c-op", "$in")
    page.fill(".c-value", "ios, android")
    page.select_option("#id_primary_metric", label="CTR")
    page.fill("#id_daily_traffic", "20000")
    assert page.input_value("#id_targeting") == '{"platform":{"$in":["ios","android"]}}'
    assert "control 50.0% · treatment 50.0%" in page.text_content("#split-live")
    walk.check("create-form")
    page.click("button[name=plan]")
    assert "users per variant" in page.text_content("#plan")
    walk.check("plan-checked")
    page.click("button[name=create]")
    page.wait_for_url("**/experiments/browser-owner/")
    assert "is one of ios, android" in page.text_content("#targeting")
    walk.check("draft")

    for action, status in (("start", "running"), ("pause", "paused"), ("resume", "running")):
        page.click(f"[data-action={action}]")
        walk.check(f"confirm-{action}")
        page.click("#confirm-form button[type=submit]")
        page.wait_for_url("**/experiments/browser-owner/")
        assert page.text_content("#status").strip() == status
    timeline = page.text_content("#phases")
    assert "Phase 1" in timeline and "paused" in timeline and "resumed" in timeline
    assert "owner paused the experiment" in page.text_content("#history")
    walk.check("resumed")

    # edit while running: the weight change is announced as a new phase before it is saved
    page.click("#edit-link")
    page.wait_for_url("**/experiments/browser-owner/edit/")
    assert "The key, the variants and the minimum runtime are fixed" in page.inner_text(
        "#edit-rules"
    )
    page.fill("#id_variant_1_weight", "3")
    assert "control 25.0% · treatment 75.0%" in page.text_content("#split-live")
    page.fill("#id_hypothesis", "Item-CF lifts CTR")
    walk.check("edit-form")
    page.click("button[name=save]")
    assert "Saving starts phase 2" in page.inner_text("#new-phase-warning")
    walk.check("edit-confirm-new-phase")
    page.click("button[name=confirm_new_phase]")
    page.wait_for_url("**/experiments/browser-owner/")
    assert "phase 2 started" in page.text_content(".messages")
    timeline = page.text_content("#phases")
    assert "Phase 2" in timeline and "treatment 3.0" in timeline
    assert "starting phase 2 (allocation changed in the workspace)" in page.text_content("#history")
    assert "Item-CF lifts CTR" in page.text_content("main")
    walk.check("edited")

    page.click("text=Home")
    assert "Ranker in the browser" in page.text_content("#active-experiments")
    walk.check("home-running")
    page.goto(f"{live_server.url}/experiments/browser-owner/")
    page.click("nav.tabs >> text=Report")
    page.wait_for_url("**/reports/browser-owner/")
    walk.check("report-empty")


def test_analyst_reads_downloads_and_checks_the_holdout(live_server, browser, django_user_model):  # noqa: F811
    from analytics.services.rollups import do_run_rollups
    from tests.analytics.factories import generate, holdout_world

    generate(users=120, seed=5, lift=1.5, key="browser-analyst")
    holdout_world()
    do_run_rollups()
    django_user_model.objects.create_superuser("analyst", "analyst@example.com", "pw-analyst")
    page = browser.new_page(
        viewport={"width": 1280, "height": 1000}, accept_downloads=True, bypass_csp=True
    )
    walk = Walk(page, "analyst")
    sign_in(page, live_server.url, "analyst", "pw-analyst", "/reports/browser-analyst/")
    walk.check("report")
    with page.expect_download() as download:
        page.click("#csv-link")
    body = Path(download.value.path()).read_text()
    assert body.splitlines()[0] and "control" in body
    # one chart's data: exactly the series the chart draws (the page's own chart data)
    plotted = page.evaluate(
        "JSON.parse(document.getElementById('report-chart-data').textContent).effect"
    )
    with page.expect_download() as download:
        page.click("a.chart-download[data-chart=effect]")
    assert download.value.suggested_filename == "browser-analyst-effect-phase1.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["day", "variant", "effect_pp", "lower_pp", "upper_pp"]
    assert [(r[0], r[1], float(r[2])) for r in rows[1:]] == [
        (day, s["label"], effect)
        for s in plotted
        for day, effect in zip(s["days"], s["effect"], strict=True)
    ]
    walk.check("chart-downloaded")
    page.goto(f"{live_server.url}/reports/holdout/")
    # one chart per metric, each drawn on its own scale
    lines = page.evaluate(
        "JSON.parse(document.getElementById('holdout-chart-data').textContent).lines"
    )
    assert len(lines) >= 2
    for line in lines:
        assert page.is_visible(f"#holdout-chart-{line['key']}")
    walk.check("holdout")
