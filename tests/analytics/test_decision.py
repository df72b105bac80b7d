"""The report's recommendation combines the primary metric with every guardrail."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from analytics.reports.decision import DO_NOT_SHIP, INVALID, KEEP_RUNNING, SHIP, decide
from analytics.reports.experiment import build_experiment_report


def _row(variant: str, css: str, name: str = "CTR", effect: float = 0.01, higher=True):
    return SimpleNamespace(
        variant=SimpleNamespace(key=variant),
        metric=SimpleNamespace(name=name, higher_is_better=higher),
        verdict=SimpleNamespace(css=css, text={"good": "treatment better"}.get(css, css)),
        analysis=SimpleNamespace(absolute_effect=effect),
    )


@pytest.mark.parametrize(
    ("primary", "guards", "action"),
    [
        ("good", ["good", "good"], SHIP),
        ("good", ["good", "warn"], KEEP_RUNNING),  # a guardrail not yet shown within margin
        ("good", ["good", "bad"], DO_NOT_SHIP),  # harm beyond the margin outweighs the win
        ("bad", ["good", "good"], DO_NOT_SHIP),
        ("neutral", ["good", "good"], KEEP_RUNNING),
        ("neutral", ["bad", "good"], DO_NOT_SHIP),
    ],
)
def test_rule(primary, guards, action):
    guardrails = [_row("t", css, name=f"g{i}") for i, css in enumerate(guards)]
    decision = decide([_row("t", primary)], guardrails, srm_flagged=False, preliminary=False)
    assert decision.action == action and decision.arms[0].action == action


def test_srm_and_preliminary_come_first():
    rows = [_row("t", "good")], [_row("t", "good", name="g")]
    assert decide(*rows, srm_flagged=True, preliminary=False).action == INVALID
    early = decide(*rows, srm_flagged=False, preliminary=True)
    assert early.action == KEEP_RUNNING and early.arms[0].action == SHIP


def test_several_arms_ship_the_best_shippable_one():
    primary = [_row("a", "good", effect=0.01), _row("b", "good", effect=0.03), _row("c", "bad")]
    guards = [_row("a", "good", "g"), _row("b", "good", "g"), _row("c", "good", "g")]
    decision = decide(primary, guards, srm_flagged=False, preliminary=False)
    assert decision.action == SHIP and decision.text.startswith("ship b")
    assert [a.action for a in decision.arms] == [SHIP, SHIP, DO_NOT_SHIP]


def test_report_page_states_the_recommendation(staff_client, db):
    from analytics.services.rollups import do_run_rollups
    from tests.analytics.factories import generate

    data = generate(users=120, seed=21, lift=1.6)
    do_run_rollups()
    report = build_experiment_report(data.experiment)
    assert report.decision is not None and report.decision.arms[0].variant == "treatment"
    text = staff_client.get("/reports/exp/").content.decode()
    assert 'id="decision-banner"' in text and f'data-action="{report.decision.action}"' in text
