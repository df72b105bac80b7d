"""The interleaving report: served lists with teams and their clicks, credited and tested."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse

from analytics.interleaving import (
    ClickEvent,
    credit_table_from_events,
    preference_test,
)
from analytics.reports.interleaving import build_interleaving_report, served_page
from analytics.services import record_served_lists
from experiments.models import Experiment, Variant
from tests.analytics.factories import START, event, store_events

pytestmark = pytest.mark.django_db
TEAMS = ["cf", "pop"]


def _experiment(min_runtime_days: int = 7) -> Experiment:
    experiment = Experiment.objects.create(
        key="inter",
        name="Interleaving",
        kind=Experiment.Kind.INTERLEAVING,
        status=Experiment.Status.RUNNING,
        started_at=START,
        min_runtime_days=min_runtime_days,
    )
    Variant.objects.create(experiment=experiment, key="cf", is_control=True, position=0)
    Variant.objects.create(experiment=experiment, key="pop", position=1)
    return experiment


def _page(rid: str, user: str, day: int, teams: list[str], partial: bool = False) -> dict:
    items = []
    for p, team in enumerate(teams):
        item = {"item_id": f"{team}-{p}", "position": p + 1, "score": 1.0, "source": "model"}
        item["team"] = team
        if partial:
            item["interleaving"] = "partial"
        items.append(item)
    return {
        "request_id": rid,
        "user_id": user,
        "experiment_key": "inter",
        "variant_key": "interleaved",
        "served_at": START + timedelta(days=day, hours=1),
        "items": items,
    }


def _world(seed: int = 3):
    """40 users; team ``pop`` draws about twice the clicks of ``cf``; one page a ranker
    missed (clicked, excluded), a click on an item not shown, a click of another user."""
    rng = np.random.default_rng(seed)
    lists, events = [], []
    for u in range(40):
        user = f"u{u}"
        for day in range(2):
            rid = f"r{u}-{day}"
            order = ["cf", "pop", "pop", "cf"] if (u + day) % 2 else ["pop", "cf", "cf", "pop"]
            lists.append(_page(rid, user, day, order))
            t = START + timedelta(days=day, hours=2)
            for p, team in enumerate(order):
                if rng.random() < (0.5 if team == "pop" else 0.25):
                    events.append(
                        event(
                            f"c-{rid}-{p}", "click", user, t, request_id=rid, item_id=f"{team}-{p}"
                        )
                    )
    lists.append(_page("partial", "u0", 1, ["cf", "cf"], partial=True))
    events.append(event("c-partial", "click", "u0", START, request_id="partial", item_id="cf-0"))
    events.append(event("c-stray", "click", "u1", START, request_id="r1-0", item_id="nowhere"))
    events.append(event("c-foreign", "click", "u9", START, request_id="r2-0", item_id="cf-0"))
    record_served_lists(lists)
    store_events(events)
    return lists, events


def test_report_credits_clicks_and_matches_the_pure_package():
    experiment = _experiment()
    lists, events = _world()
    report = build_interleaving_report(experiment, now=START + timedelta(days=2))
    pages = [served_page(r["request_id"], r["user_id"], r["items"], TEAMS) for r in lists]
    clicks = [ClickEvent(e["request_id"], e["user_id"], e["item_id"]) for e in events]
    table, audit = credit_table_from_events(pages, clicks)
    expected = preference_test(table, team_a=1, team_b=0, alpha=experiment.alpha)
    (pair,) = report.pairs
    assert (pair.team, pair.control) == ("pop", "cf")
    assert pair.preference == expected
    assert report.pages == 81 and report.analysed_pages == 80 and report.excluded_pages == 1
    # the stray item and the other user's click are unattributed, the partial page's excluded
    assert report.unattributed_clicks == 2 and audit.clicks_from_another_user == 1
    assert report.users == 40 and report.preliminary is True
    clicked = sum(1 for e in events if e["event_id"].startswith("c-r"))
    assert int(table.clicks.sum()) == clicked
    assert report.positions[0]["cells"][0]["shown"] + report.positions[0]["cells"][1]["shown"] == 80
    assert report.chart["labels"] == [
        START.date().isoformat(),
        (START + timedelta(days=1)).date().isoformat(),
    ]
    last = report.chart["series"]["pop"][-1]
    assert last["share"] == pytest.approx(expected.decisive_share_a)
    assert pair.preference.wins_a > pair.preference.wins_b  # pop's items draw more clicks


def test_a_page_without_teams_or_with_a_repeated_item_is_excluded():
    fallback = served_page("f", "u", [{"item_id": "x", "position": 1}], TEAMS)
    repeated = served_page(
        "d", "u", [{"item_id": "x", "team": "cf"}, {"item_id": "x", "team": "pop"}], TEAMS
    )
    unknown = served_page("k", "u", [{"item_id": "x", "team": "gone"}], TEAMS)
    assert not any(p.served.for_analysis for p in (fallback, repeated, unknown))


def test_report_page_shows_preference_positions_and_counts(staff_client):
    _experiment(min_runtime_days=1)
    _world()
    page = staff_client.get("/reports/inter/")
    assert page.status_code == 200
    html = page.content.decode()
    for marker in ("preference-table", "position-table", "daily-table", "excluded-pages"):
        assert f'id="{marker}"' in html
    assert "preliminary-banner" not in html  # ran more than its 1 committed day
    assert "unattributed" in html
    assert staff_client.get("/reports/inter/export.csv").status_code == 200
    workspace = staff_client.get(reverse("experiment-workspace", args=["inter"]))
    assert workspace.status_code == 200


def test_the_experiment_list_does_not_flag_interleaving_as_a_sample_ratio_mismatch():
    from analytics.reports.listing import experiment_summaries
    from analytics.services.rollups import do_run_rollups
    from assignment.models import Exposure

    experiment = _experiment()
    control = experiment.variants.get(key="cf")
    Exposure.objects.bulk_create(
        Exposure(
            experiment=experiment,
            phase=1,
            variant=control,  # interleaved users are logged on the control's row
            user_id=f"u{i}",
            first_exposed_at=START + timedelta(hours=1),
        )
        for i in range(300)
    )
    _world()
    do_run_rollups()
    (summary,) = experiment_summaries(keys=("inter",))
    assert summary.srm_flagged is False and summary.guardrail_alerts == []
    assert "interleaving" in summary.verdict.text
