"""From what serving logged (each page's rankers' lists and its interleaved list with teams)
and the click events clients sent, to the per-user ``CreditTable`` the analysis reads.

Serving stores one ``ServedPage`` per interleaved answer (its request id, user, the lists
each ranker returned, and the served ``InterleavedList``); ingestion passes the click events
as ``ClickEvent``s. The rules, each counted rather than silently dropped:

- a click whose request id matches no served page, or whose user differs from the page's,
  is *unattributed*, as is a click on an item the page did not show;
- a page whose served list contradicts its rankers' lists (an item credited to a team whose
  ranker did not return it, or a ranker marked present that is missing) is *inconsistent*:
  excluded, with its clicks, and counted in ``EventAudit.inconsistent_pages``; it points to
  a logging defect, and crediting it would bias the comparison.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from analytics.interleaving.credit import CreditTable, Impression, credit_table
from analytics.interleaving.draft import InterleavedList


@dataclass(frozen=True)
class ServedPage:
    """One interleaved answer as serving logged it."""

    request_id: str
    user_id: str
    rankings: Sequence[Sequence[Hashable] | None]
    served: InterleavedList


@dataclass(frozen=True)
class ClickEvent:
    """A click as a client reported it."""

    request_id: str
    user_id: str
    item_id: Hashable


@dataclass(frozen=True)
class EventAudit:
    """What the attribution left out, by cause."""

    clicks_without_page: int = 0
    clicks_from_another_user: int = 0
    inconsistent_pages: int = 0


def _consistent(page: ServedPage) -> bool:
    served = page.served
    if len(page.rankings) != served.n_teams:
        return False
    members = [None if r is None else set(r) for r in page.rankings]
    if served.for_analysis and any(m is None for m in members):
        return False
    return all(
        members[team] is not None and item in members[team]  # type: ignore[operator]
        for item, team in zip(served.items, served.teams, strict=True)
    )


def _check_pages(pages: Iterable[ServedPage]) -> dict[str, ServedPage]:
    by_request: dict[str, ServedPage] = {}
    for index, page in enumerate(pages):
        if not isinstance(page, ServedPage):
            raise ValueError(f"pages[{index}]: must be a ServedPage")
        if not isinstance(page.request_id, str) or not page.request_id:
            raise ValueError(f"pages[{index}].request_id: must be a non-empty string")
        if page.request_id in by_request:
            raise ValueError(f"pages[{index}].request_id: {page.request_id!r} is logged twice")
        by_request[page.request_id] = page
    return by_request


def credit_table_from_events(
    pages: Iterable[ServedPage], clicks: Iterable[ClickEvent], *, n_teams: int = 2
) -> tuple[CreditTable, EventAudit]:
    """The credit table of ``pages`` and ``clicks`` and the audit of what was left out
    (orphan and foreign clicks join the table's ``unattributed_clicks``; inconsistent pages
    its ``excluded_impressions``)."""
    by_request = _check_pages(pages)
    clicked: dict[str, list[Hashable]] = defaultdict(list)
    orphans = foreign = 0
    for index, click in enumerate(clicks):
        if not isinstance(click, ClickEvent):
            raise ValueError(f"clicks[{index}]: must be a ClickEvent")
        page = by_request.get(click.request_id)
        if page is None:
            orphans += 1
        elif click.user_id != page.user_id:
            foreign += 1
        else:
            clicked[click.request_id].append(click.item_id)
    impressions, inconsistent = [], 0
    for request_id, page in by_request.items():
        if not _consistent(page):
            inconsistent += 1
            continue
        impressions.append(Impression(page.user_id, page.served, clicked.get(request_id, ())))
    table = credit_table(impressions, n_teams=n_teams)
    table = dataclasses.replace(
        table,
        unattributed_clicks=table.unattributed_clicks + orphans + foreign,
        excluded_impressions=table.excluded_impressions + inconsistent,
    )
    return table, EventAudit(orphans, foreign, inconsistent)
