"""Merging the answers of an interleaving experiment's rankers into the one served list.

The web side (``web``) asks the serving workers for every variant's list at once and hands
the answers here. :func:`merge_answers` runs the team draft of ``analytics.interleaving``
(seed: the experiment's seed; key: the user id, so a user's pages continue one draft) and
returns the served items, each carrying ``team``, the key of the variant that contributed
it. An item two rankers share is shown once, credited to the team that picked it.

A ranker without an answer (it missed the deadline, failed, or has no active version) is
left out: the others' lists are merged, the page is ``partial`` and every item says so
(``"interleaving": "partial"``), so the analysis excludes it (its clicks say nothing about
the missing ranker). The list-level status travels in the items' JSON of the served-list
record; ``analytics.reports.interleaving`` reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analytics.interleaving import team_draft

__all__ = ["FULL", "PARTIAL", "MergedList", "merge_answers"]

FULL = "full"
PARTIAL = "partial"


@dataclass(frozen=True)
class MergedList:
    """The served items (``{item_id, score, source, position, team}``, plus ``interleaving:
    "partial"`` on a partial page), the page's status, and the model version of each team
    that answered (None for one that did not)."""

    items: list[dict[str, Any]]
    status: str
    model_versions: list[int | None]


def merge_answers(
    team_keys: Sequence[str],
    answers: Sequence[dict[str, Any] | None],
    *,
    length: int,
    seed: str,
    user_id: str,
    offset: int = 0,
) -> MergedList:
    """Team draft of the teams' answers (``None``: no answer; at least one must be given).

    ``answers[t]``: the worker's answer for team ``t`` (``{"items": [{item_id, score,
    source}], "model_version"}``) holding at least its top ``offset + length`` items.
    Positions are 1-based within the draft (``offset + rank + 1``).
    """
    if len(team_keys) != len(answers):
        raise ValueError("answers: one answer (or None) per team is required")
    by_team: list[dict[str, dict[str, Any]] | None] = []
    for answer in answers:
        if answer is None:
            by_team.append(None)
            continue
        items: dict[str, dict[str, Any]] = {}
        for item in answer["items"]:  # a ranker's repeated item keeps its best rank
            items.setdefault(str(item["item_id"]), item)
        by_team.append(items)
    rankings = [None if items is None else list(items) for items in by_team]
    draft = team_draft(rankings, length=length, seed=seed, key=user_id, offset=offset)
    status = FULL if draft.for_analysis else PARTIAL
    served = []
    for rank, (item_id, team) in enumerate(zip(draft.items, draft.teams, strict=True)):
        source = by_team[team][item_id]  # type: ignore[index]
        item = {
            "item_id": item_id,
            "score": source.get("score"),
            "source": source.get("source", "model"),
            "position": offset + rank + 1,
            "team": team_keys[team],
        }
        if status == PARTIAL:
            item["interleaving"] = PARTIAL
        served.append(item)
    versions = [None if answer is None else answer.get("model_version") for answer in answers]
    return MergedList(served, status, versions)
