"""Team-draft merge: hand-worked drafts, the pagination contract, the coin, missing lists,
and properties over random lists (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.interleaving import InterleavedList, team_draft
from analytics.interleaving.draft import _coin

A = ["a1", "a2", "a3", "s1", "a5"]
B = ["s1", "b2", "a1", "b4", "b5"]


def _first_team(key: str) -> int:
    return _coin(7, key, 0, 2)


def test_draft_by_hand_for_both_coin_outcomes():
    keys = {_first_team(f"user-{i}"): f"user-{i}" for i in range(20)}
    # team 0 first: a1 (A); B's best unshown is s1; then a coin again at step 2
    merged = team_draft([A, B], length=4, seed=7, key=keys[0])
    assert merged.items[:2] == ("a1", "s1") and merged.teams[:2] == (0, 1)
    # team 1 first: s1 (B); A's best unshown is a1
    merged = team_draft([A, B], length=4, seed=7, key=keys[1])
    assert merged.items[:2] == ("s1", "a1") and merged.teams[:2] == (1, 0)


def test_shared_item_is_shown_once_and_credited_to_its_picker():
    merged = team_draft([A, B], length=10, seed=1, key="u")
    assert len(merged.items) == len(set(merged.items)) == len(set(A) | set(B))
    for item, team in zip(merged.items, merged.teams, strict=True):
        assert item in (A, B)[team]


def test_next_page_continues_the_same_draft():
    full = team_draft([A, B], length=8, seed="exp-3", key="user-9")
    first = team_draft([A, B], length=4, seed="exp-3", key="user-9")
    second = team_draft([A, B], length=4, seed="exp-3", key="user-9", offset=4)
    assert first.items + second.items == full.items
    assert first.teams + second.teams == full.teams
    assert second.offset == 4


def test_draft_is_deterministic_and_the_coin_is_fair():
    assert team_draft([A, B], length=5, seed=3, key="u1") == team_draft(
        [A, B], length=5, seed=3, key="u1"
    )
    first_teams = [team_draft([A, B], length=1, seed=3, key=f"u{i}").teams[0] for i in range(4000)]
    share = sum(first_teams) / len(first_teams)
    assert abs(share - 0.5) < 3 * (0.25 / 4000) ** 0.5 * 1.5


def test_missing_list_serves_the_other_marked_not_for_analysis():
    merged = team_draft([None, B], length=3, seed=3, key="u")
    assert merged.items == tuple(B[:3]) and merged.teams == (1, 1, 1)
    assert not merged.for_analysis
    assert team_draft([A, B], length=3, seed=3, key="u").for_analysis


def test_multileaving_four_teams_pick_in_rounds():
    rankings = [[f"r{r}-{i}" for i in range(6)] for r in range(4)]
    merged = team_draft(rankings, length=12, seed=5, key="u")
    assert merged.n_teams == 4
    for start in (0, 4, 8):  # each round of four has every team once
        assert sorted(merged.teams[start : start + 4]) == [0, 1, 2, 3]


def test_short_lists_end_the_page_early():
    merged = team_draft([["x"], ["y"]], length=5, seed=5, key="u")
    assert sorted(merged.items) == ["x", "y"]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"rankings": [A]}, "rankings"),
        ({"rankings": [A, B, A, B, A]}, "rankings"),
        ({"rankings": [None, None]}, "rankings"),
        ({"rankings": [A, ["x", "x"]]}, r"rankings\[1\]"),
        ({"rankings": [A, "abc"]}, r"rankings\[1\]"),
        ({"rankings": [A, [["unhashable"]]]}, r"rankings\[1\]"),
        ({"length": 0}, "length"),
        ({"offset": -1}, "offset"),
        ({"seed": 1.5}, "seed"),
        ({"key": ""}, "key"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    arguments = {"rankings": [A, B], "length": 3, "seed": 1, "key": "u"} | kwargs
    with pytest.raises(ValueError, match=f"^{argument}"):
        team_draft(**arguments)


def test_interleaved_list_checks_itself():
    with pytest.raises(ValueError, match="^teams"):
        InterleavedList(items=("a",), teams=(2,), for_analysis=True)


rankers = st.lists(st.integers(0, 30), max_size=12, unique=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(rankers, min_size=2, max_size=4), st.integers(1, 20), st.text(min_size=1))
def test_draft_properties(rankings, length, key):
    merged = team_draft(rankings, length=length, seed=11, key=key)
    assert len(merged.items) == min(length, len(set().union(*map(set, rankings))))
    picks = [0] * len(rankings)
    shown: set[int] = set()
    for item, team in zip(merged.items, merged.teams, strict=True):
        ranking = rankings[team]
        # the picker's best item not yet shown
        assert item == next(i for i in ranking if i not in shown)
        # no team that could still pick had picked fewer
        able = [t for t, r in enumerate(rankings) if any(i not in shown for i in r)]
        assert picks[team] == min(picks[t] for t in able)
        shown.add(item)
        picks[team] += 1
