"""From logged pages and click events to the credit table: every left-out click and page is
counted by its cause."""

from __future__ import annotations

import pytest

from analytics.interleaving import (
    ClickEvent,
    InterleavedList,
    ServedPage,
    credit_table_from_events,
    preference_test,
    team_draft,
)

A, B = ["a", "s", "b"], ["s", "c", "a"]


def page(request_id, user_id, rankings=(A, B), key=None):
    served = team_draft(list(rankings), length=4, seed=1, key=key or user_id)
    return ServedPage(request_id, user_id, rankings, served)


def test_clicks_are_credited_through_their_page():
    pages = [page("r1", "u1"), page("r2", "u2"), page("r3", "u1", key="u1-next")]
    team_of = {p.request_id: dict(zip(p.served.items, p.served.teams, strict=True)) for p in pages}
    clicks = [
        ClickEvent("r1", "u1", "s"),
        ClickEvent("r3", "u1", "c"),
        ClickEvent("r2", "u2", "a"),
        ClickEvent("r9", "u2", "a"),  # no such page
        ClickEvent("r2", "u1", "s"),  # u1 clicking on u2's page
        ClickEvent("r2", "u2", "zzz"),  # not shown
    ]
    table, audit = credit_table_from_events(pages, clicks)
    assert (audit.clicks_without_page, audit.clicks_from_another_user) == (1, 1)
    assert table.unattributed_clicks == 3
    expected = {"u1": [0, 0], "u2": [0, 0]}
    for request, user, item in (("r1", "u1", "s"), ("r3", "u1", "c"), ("r2", "u2", "a")):
        expected[user][team_of[request][item]] += 1
    assert table.users == ("u1", "u2")
    assert table.clicks.tolist() == [expected["u1"], expected["u2"]]
    assert table.impressions.tolist() == [2.0, 1.0]
    result = preference_test(table)
    assert result.wins_a == sum(a > b for a, b in expected.values())
    assert result.wins_b == sum(b > a for a, b in expected.values())


def test_inconsistent_and_missing_ranker_pages_are_excluded_and_counted():
    forged = ServedPage("r2", "u2", (A, B), InterleavedList(("x", "a"), (0, 0), True))
    missing = page("r3", "u3", rankings=(None, B))
    table, audit = credit_table_from_events(
        [page("r1", "u1"), forged, missing],
        [ClickEvent("r2", "u2", "x"), ClickEvent("r3", "u3", "s")],
    )
    assert audit.inconsistent_pages == 1
    assert table.excluded_impressions == 2  # the forged page and the missing ranker's
    assert table.users == ("u1",)
    assert table.clicks.sum() == 0


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"^pages\[1\]\.request_id"):
        credit_table_from_events([page("r1", "u1"), page("r1", "u2")], [])
    with pytest.raises(ValueError, match=r"^pages\[0\]"):
        credit_table_from_events(["page"], [])
    with pytest.raises(ValueError, match=r"^clicks\[0\]"):
        credit_table_from_events([page("r1", "u1")], [("r1", "u1", "a")])
