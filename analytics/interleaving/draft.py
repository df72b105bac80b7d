"""Team-draft interleaving and multileaving: one list merged from two to four rankers.

Team draft (Radlinski, Kurup and Joachims 2008, "How does clickthrough data reflect retrieval
quality?"; multileaving: Schuth et al. 2014, "Multileaved comparisons for fast online
evaluation"): the team that has picked the fewest items picks next; when several teams have
picked equally few, a coin decides. A team picks its highest-ranked item not already in the
merged list, so an item that two rankers share is shown once and credited to the team that
picked it. Each position carries its team, so a click on it credits exactly one ranker.

Determinism and pagination: the coin of step ``s`` is ``blake2b(seed, key, s) mod t`` among
the ``t`` tied teams, with ``key`` the draft's identity (the user, or a session id that pages
share) and never the page. The draft is therefore a pure function of (rankings, seed, key):
page ``p`` of size ``L`` is positions ``[offset, offset + L)`` of the same draft, with
``offset = p * L``, and asking for it replays the draft from its start. The contract for the
caller: each ranker is asked for at least its top ``offset + length`` items and returns the
same list for every page of one key (as a deterministic ranker does).

If a ranker's list is missing (``None``: it missed the deadline), the remaining rankers are
merged as usual but the result is marked ``for_analysis=False``: its clicks say nothing about
the missing ranker, so the analysis leaves the impression out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from analytics.stats._validation import check_count

MAX_TEAMS = 4


@dataclass(frozen=True)
class InterleavedList:
    """One page of a draft. ``teams[i]`` is the index (into the rankings) of the ranker that
    contributed ``items[i]``; the page starts at position ``offset`` of the draft."""

    items: tuple[Hashable, ...]
    teams: tuple[int, ...]
    for_analysis: bool
    offset: int = 0
    n_teams: int = 2

    def __post_init__(self) -> None:
        if len(self.items) != len(self.teams):
            raise ValueError("teams: one team per item is required")
        if any(not 0 <= team < self.n_teams for team in self.teams):
            raise ValueError(f"teams: every team must lie in [0, {self.n_teams})")
        if len(set(self.items)) != len(self.items):
            raise ValueError("items: an item may appear only once")


def _coin(seed: str | int, key: str, step: int, ties: int) -> int:
    """A uniform draw in ``[0, ties)`` fixed by (seed, key, step); 64 bits make the modulo
    bias below 1e-18."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}\x1f{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % ties


def _check_rankings(rankings: object) -> list[Sequence[Hashable] | None]:
    if isinstance(rankings, str | bytes) or not isinstance(rankings, Sequence):
        raise ValueError("rankings: must be a sequence of 2 to 4 ranked lists")
    if not 2 <= len(rankings) <= MAX_TEAMS:
        raise ValueError(f"rankings: must hold 2 to {MAX_TEAMS} lists, got {len(rankings)}")
    checked: list[Sequence[Hashable] | None] = []
    for index, ranking in enumerate(rankings):
        if ranking is None:
            checked.append(None)
            continue
        if isinstance(ranking, str | bytes) or not isinstance(ranking, Sequence):
            raise ValueError(f"rankings[{index}]: must be a list of item ids or None")
        try:
            distinct = len(set(ranking))
        except TypeError as error:
            raise ValueError(f"rankings[{index}]: item ids must be hashable") from error
        if distinct != len(ranking):
            raise ValueError(f"rankings[{index}]: an item appears twice in one ranker's list")
        checked.append(ranking)
    if all(ranking is None for ranking in checked):
        raise ValueError("rankings: every ranker's list is missing")
    return checked


def _draft(
    rankings: list[Sequence[Hashable] | None], stop: int, seed: str | int, key: str
) -> tuple[list[Hashable], list[int]]:
    """The first ``stop`` positions of the draft (fewer when every list runs out)."""
    picks = [0] * len(rankings)
    cursors = [0] * len(rankings)
    shown: set[Hashable] = set()
    items: list[Hashable] = []
    teams: list[int] = []
    step = 0
    while len(items) < stop:
        for team, ranking in enumerate(rankings):  # skip what the others already showed
            if ranking is not None:
                while cursors[team] < len(ranking) and ranking[cursors[team]] in shown:
                    cursors[team] += 1
        able = [
            team
            for team, ranking in enumerate(rankings)
            if ranking is not None and cursors[team] < len(ranking)
        ]
        if not able:
            break
        fewest = min(picks[team] for team in able)
        tied = [team for team in able if picks[team] == fewest]
        team = tied[_coin(seed, key, step, len(tied))] if len(tied) > 1 else tied[0]
        item = rankings[team][cursors[team]]  # type: ignore[index]
        shown.add(item)
        items.append(item)
        teams.append(team)
        picks[team] += 1
        step += 1
    return items, teams


def team_draft(
    rankings: Sequence[Sequence[Hashable] | None],
    *,
    length: int,
    seed: str | int,
    key: str,
    offset: int = 0,
) -> InterleavedList:
    """Positions ``[offset, offset + length)`` of the team draft of ``rankings``.

    ``rankings``: 2 to 4 ranked lists of item ids (best first), ``None`` for a ranker that
    missed its deadline. ``seed``: the experiment's seed; ``key``: the draft's identity (user
    or session id, the same for every page). The page may be shorter than ``length`` when
    the lists run out. Raises ``ValueError`` naming the argument on bad input.
    """
    checked = _check_rankings(rankings)
    length = check_count("length", length, minimum=1)
    offset = check_count("offset", offset)
    if isinstance(seed, bool) or not isinstance(seed, str | int):
        raise ValueError(f"seed: must be a string or an integer, got {seed!r}")
    if not isinstance(key, str) or not key:
        raise ValueError("key: must be a non-empty string (the user or session id)")
    items, teams = _draft(checked, offset + length, seed, key)
    return InterleavedList(
        items=tuple(items[offset:]),
        teams=tuple(teams[offset:]),
        for_analysis=all(ranking is not None for ranking in checked),
        offset=offset,
        n_teams=len(checked),
    )
