"""From served interleaved lists and their clicks to the per-user credit table the analysis
reads.

A click credits the team logged at the clicked item's position, and only that team. Rules:
- a click on an item that was not in the served list is *unattributed*: counted, never
  credited (a stale client, a click from another surface, a forged event);
- an item clicked several times in one impression is credited once (a click is evidence that
  the item was wanted, not a vote to be repeated);
- an impression marked ``for_analysis=False`` (a ranker missed its deadline) is counted as
  excluded and contributes nothing, its clicks included.

Serving stores each served page with its teams; the caller groups a page's click events by
the page's request id and passes one ``Impression`` per page. ``combine_tables`` adds the
tables of several periods (a report's days) into the table of all of them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from analytics.interleaving.draft import InterleavedList
from analytics.stats._validation import check_count


@dataclass(frozen=True)
class Impression:
    """One served page (its items, their teams, its offset in the draft) and the item ids
    the user clicked on it."""

    user_id: str
    served: InterleavedList
    clicked_items: Sequence[Hashable] = ()


@dataclass(frozen=True)
class CreditTable:
    """Per-user credit of an interleaving experiment.

    ``clicks[u, t]``: clicks of user ``users[u]`` credited to team ``t``; ``impressions[u]``:
    that user's pages counted for analysis. ``position_shown[p, t]`` and
    ``position_clicks[p, t]``: how often team ``t`` held draft position ``p`` and the clicks
    it drew there, summed over users.
    """

    users: tuple[str, ...]
    impressions: np.ndarray
    clicks: np.ndarray
    position_shown: np.ndarray
    position_clicks: np.ndarray
    unattributed_clicks: int = 0
    excluded_impressions: int = 0
    n_teams: int = field(init=False)

    def __post_init__(self) -> None:
        n_users = len(self.users)
        if self.impressions.shape != (n_users,):
            raise ValueError("impressions: one count per user is required")
        if self.clicks.ndim != 2 or self.clicks.shape[0] != n_users:
            raise ValueError("clicks: must be an array of shape (users, teams)")
        if self.position_shown.shape != self.position_clicks.shape:
            raise ValueError("position_clicks: must have the shape of position_shown")
        for name in ("impressions", "clicks", "position_shown", "position_clicks"):
            if np.any(getattr(self, name) < 0):
                raise ValueError(f"{name}: counts must not be negative")
        object.__setattr__(self, "n_teams", int(self.clicks.shape[1]))

    @classmethod
    def from_counts(
        cls, clicks: Sequence[Sequence[float]], impressions: Sequence[float] | None = None
    ) -> CreditTable:
        """A table from per-user click counts alone (users named by their row)."""
        array = np.asarray(clicks, dtype=float)
        if array.ndim != 2 or array.shape[1] < 2:
            raise ValueError("clicks: must be an array of shape (users, teams >= 2)")
        counts = np.ones(len(array)) if impressions is None else np.asarray(impressions, float)
        empty = np.zeros((0, array.shape[1]))
        return cls(tuple(str(i) for i in range(len(array))), counts, array, empty, empty)


def _check_impression(index: int, impression: object, n_teams: int) -> Impression:
    if not isinstance(impression, Impression):
        raise ValueError(f"impressions[{index}]: must be an Impression")
    if not isinstance(impression.user_id, str) or not impression.user_id:
        raise ValueError(f"impressions[{index}].user_id: must be a non-empty string")
    if impression.served.n_teams != n_teams:
        raise ValueError(
            f"impressions[{index}].served: has {impression.served.n_teams} teams, "
            f"the experiment {n_teams}"
        )
    return impression


def credit_table(impressions: Iterable[Impression], *, n_teams: int = 2) -> CreditTable:
    """Attribute every click of ``impressions`` to a team and sum per user and position."""
    n_teams = check_count("n_teams", n_teams, minimum=2)
    rows: dict[str, int] = {}
    counts: list[list[float]] = []
    per_position: dict[int, np.ndarray] = {}
    unattributed = excluded = 0
    for index, raw in enumerate(impressions):
        impression = _check_impression(index, raw, n_teams)
        served = impression.served
        clicked = set(impression.clicked_items)
        if not served.for_analysis:
            excluded += 1
            continue
        row = rows.setdefault(impression.user_id, len(rows))
        if row == len(counts):
            counts.append([0.0] * (n_teams + 1))
        counts[row][n_teams] += 1
        unattributed += len(clicked - set(served.items))
        for rank, (item, team) in enumerate(zip(served.items, served.teams, strict=True)):
            cell = per_position.setdefault(served.offset + rank, np.zeros((2, n_teams)))
            cell[0, team] += 1
            if item in clicked:
                cell[1, team] += 1
                counts[row][team] += 1
    table = np.asarray(counts, dtype=float).reshape(-1, n_teams + 1)
    depth = max(per_position, default=-1) + 1
    positions = np.zeros((2, depth, n_teams))
    for position, cell in per_position.items():
        positions[:, position] = cell
    return CreditTable(
        users=tuple(rows),
        impressions=table[:, n_teams],
        clicks=table[:, :n_teams],
        position_shown=positions[0],
        position_clicks=positions[1],
        unattributed_clicks=unattributed,
        excluded_impressions=excluded,
    )


def combine_tables(tables: Iterable[CreditTable]) -> CreditTable:
    """The table of the impressions of all ``tables`` (periods of one experiment): each
    user's counts, the per-position counts and the unattributed and excluded counts, summed.
    Users keep the order in which they first appear."""
    tables = list(tables)
    if not tables:
        raise ValueError("tables: at least one table is required")
    n_teams = tables[0].n_teams if isinstance(tables[0], CreditTable) else 0
    for index, table in enumerate(tables):
        if not isinstance(table, CreditTable):
            raise ValueError(f"tables[{index}]: must be a CreditTable")
        if table.n_teams != n_teams:
            raise ValueError(f"tables[{index}]: has {table.n_teams} teams, the first {n_teams}")
    rows: dict[str, int] = {}
    for table in tables:
        for user in table.users:
            rows.setdefault(user, len(rows))
    impressions, clicks = np.zeros(len(rows)), np.zeros((len(rows), n_teams))
    depth = max(table.position_shown.shape[0] for table in tables)
    shown, clicked = np.zeros((depth, n_teams)), np.zeros((depth, n_teams))
    for table in tables:
        index = np.fromiter((rows[user] for user in table.users), int, len(table.users))
        impressions[index] += table.impressions  # a user appears once in a table
        clicks[index] += table.clicks
        shown[: table.position_shown.shape[0]] += table.position_shown
        clicked[: table.position_clicks.shape[0]] += table.position_clicks
    return CreditTable(
        users=tuple(rows),
        impressions=impressions,
        clicks=clicks,
        position_shown=shown,
        position_clicks=clicked,
        unattributed_clicks=sum(table.unattributed_clicks for table in tables),
        excluded_impressions=sum(table.excluded_impressions for table in tables),
    )
