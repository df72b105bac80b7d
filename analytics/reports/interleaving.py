"""The report of an interleaving experiment, from its served lists and their clicks.

Serving logs every merged page as a ``ServedList`` (variant ``interleaved``) whose items
carry ``team``, the key of the variant that contributed each item, and, on a page a ranker
missed, ``interleaving: "partial"``. This module turns those rows and the click events
(``Event`` of type ``click`` with the page's ``request_id`` and the ``item_id``) into the
pure package's inputs (``ServedPage``, ``ClickEvent``) and reads the results:

- ``credit_table_from_events``: credited clicks per user and team; a click on an item the
  page did not show, or from another user, is *unattributed* (counted, never credited);
  partial, fallback (no teams) and malformed pages are *excluded* with their clicks;
- ``preference_test`` (sign test, Wilson interval) of every non-control team against the
  control, ``credit_difference`` (user-clustered) and ``position_credit``;
- the daily cumulative preference (the chart), and ``preliminary`` until the experiment
  has run its committed ``min_runtime_days``.

Cost: one pass over the experiment's served lists and one over their clicks for the table,
one more for the chart, which credits each day's pages with the same function and runs the
sign test once per day over the users' cumulative credit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from django.utils import timezone

from analytics.interleaving import (
    ClickEvent,
    CreditDifference,
    CreditTable,
    EventAudit,
    InterleavedList,
    PreferenceResult,
    ServedPage,
    combine_tables,
    credit_difference,
    credit_table_from_events,
    position_credit,
    preference_test,
)
from analytics.models import Event, EventType, ServedList
from analytics.reports.empty_states import INTERLEAVING_MISSING
from analytics.reports.experiment import days_running
from assignment.engine import INTERLEAVED
from experiments.models import Experiment

__all__ = ["InterleavingReport", "PairResult", "build_interleaving_report", "served_page"]


@dataclass
class PairResult:
    """One team against the control: the users' preference and the credit difference."""

    team: str
    control: str
    preference: PreferenceResult
    difference: CreditDifference | None
    verdict: str
    tone: str  # good, bad, neutral


@dataclass
class InterleavingReport:
    experiment: Experiment
    teams: list[str]
    pages: int
    analysed_pages: int
    excluded_pages: int
    unattributed_clicks: int
    audit: EventAudit
    users: int
    pairs: list[PairResult]
    positions: list[dict[str, Any]]
    days_running: float
    preliminary: bool
    chart: dict = field(default_factory=dict)

    @property
    def missing(self) -> str:
        """Why the preference chart is empty, and how to fill it ("" when it is not)."""
        return "" if self.chart.get("labels") else INTERLEAVING_MISSING

    @property
    def daily_rows(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(day, one cell per non-control team) for the table under the chart."""
        series = list(self.chart.get("series", {}).values())
        return [
            (label, [points[i] for points in series])
            for i, label in enumerate(self.chart.get("labels", []))
        ]


def served_page(
    request_id: str, user_id: str, items: Sequence[Mapping[str, Any]], teams: Sequence[str]
) -> ServedPage:
    """A logged interleaved list as the pure package's ``ServedPage``.

    It counts for analysis only when it is non-empty, every item names a team of the
    experiment, and none is marked ``partial``; otherwise it is returned excluded (no items,
    ``for_analysis=False``). Each ranker's list is taken as the items its team contributed
    (the served record is what the user saw)."""
    index = {key: i for i, key in enumerate(teams)}
    analysable = bool(items) and all(
        item.get("team") in index and item.get("interleaving") is None for item in items
    )
    if analysable:
        item_ids = tuple(str(item["item_id"]) for item in items)
        team_ids = tuple(index[item["team"]] for item in items)
        offset = min(int(item.get("position", 1)) for item in items) - 1
        try:
            served = InterleavedList(item_ids, team_ids, True, max(offset, 0), len(teams))
        except ValueError:  # a malformed record (an item twice): excluded, not credited
            analysable = False
        else:
            rankings = [
                [i for i, t in zip(item_ids, team_ids, strict=True) if t == team]
                for team in range(len(teams))
            ]
            return ServedPage(request_id, user_id, rankings, served)
    empty = InterleavedList((), (), False, 0, len(teams))
    return ServedPage(request_id, user_id, [None] * len(teams), empty)


def _rows(experiment: Experiment) -> tuple[list[tuple[str, str, list, datetime]], list]:
    lists = ServedList.objects.filter(experiment_key=experiment.key, variant_key=INTERLEAVED)
    pages = list(lists.values_list("request_id", "user_id", "items", "served_at"))
    clicks = list(
        Event.objects.filter(
            type=EventType.CLICK, request_id__in=lists.values("request_id")
        ).values_list("request_id", "user_id", "item_id")
    )
    return pages, clicks


def _verdict(pref: PreferenceResult, team: str, control: str) -> tuple[str, str]:
    if pref.winner is None:
        return (f"no preference detected between {team} and {control}", "neutral")
    if pref.winner == pref.team_a:
        return (f"users prefer {team} over {control} (p = {pref.p_value:.3g})", "good")
    return (f"users prefer {control} over {team} (p = {pref.p_value:.3g})", "bad")


def _pairs(table: CreditTable, teams: list[str], control: int, alpha: float) -> list[PairResult]:
    pairs = []
    for team in range(len(teams)):
        if team == control:
            continue
        pref = preference_test(table, team_a=team, team_b=control, alpha=alpha)
        try:
            difference = credit_difference(table, team_a=team, team_b=control, alpha=alpha)
        except ValueError:  # fewer than 2 users, or no impression counted yet
            difference = None
        verdict, tone = _verdict(pref, teams[team], teams[control])
        pairs.append(PairResult(teams[team], teams[control], pref, difference, verdict, tone))
    return pairs


def _positions(table: CreditTable, teams: list[str]) -> list[dict[str, Any]]:
    rates = position_credit(table)
    return [
        {
            "position": p + 1,
            "cells": [
                {
                    "team": key,
                    "shown": int(table.position_shown[p, t]),
                    "clicks": int(table.position_clicks[p, t]),
                    "rate": None if np.isnan(rates[p, t]) else float(rates[p, t]),
                }
                for t, key in enumerate(teams)
            ],
        }
        for p in range(rates.shape[0])
    ]


def _chart(
    pages: Iterable[tuple[ServedPage, date]],
    clicks: Sequence[ClickEvent],
    teams: list[str],
    control: int,
    alpha: float,
) -> dict:
    """Cumulative share of decided users favouring each team over the control, by day, with
    its Wilson interval: each day's pages are credited by ``credit_table_from_events`` (the
    table's own rules) and added to the days before (``combine_tables``)."""
    by_day: dict[date, list[ServedPage]] = defaultdict(list)
    day_of: dict[str, date] = {}
    for page, day in pages:
        by_day[day].append(page)
        day_of[page.request_id] = day
    clicks_by_day: dict[date, list[ClickEvent]] = defaultdict(list)
    for click in clicks:
        if click.request_id in day_of:
            clicks_by_day[day_of[click.request_id]].append(click)
    running: CreditTable | None = None
    labels, series = [], {key: [] for i, key in enumerate(teams) if i != control}
    for day in sorted(by_day):
        table, _ = credit_table_from_events(
            by_day[day], clicks_by_day[day], n_teams=max(len(teams), 2)
        )
        running = table if running is None else combine_tables([running, table])
        labels.append(day.isoformat())
        for team, key in enumerate(teams):
            if team == control:
                continue
            pref = preference_test(running, team_a=team, team_b=control, alpha=alpha)
            share = None if np.isnan(pref.decisive_share_a) else pref.decisive_share_a
            series[key].append({"share": share, "low": pref.ci[0], "high": pref.ci[1]})
    return {"labels": labels, "series": series, "control": teams[control]}


def build_interleaving_report(
    experiment: Experiment, *, now: datetime | None = None
) -> InterleavingReport:
    """The interleaving report of ``experiment`` (see the module docstring)."""
    now = now or timezone.now()
    variants = list(experiment.variants.order_by("position", "id"))
    teams = [v.key for v in variants]
    control = next((i for i, v in enumerate(variants) if v.is_control), 0)
    rows, click_rows = _rows(experiment)
    pages = [(served_page(r, u, items or [], teams), at.date()) for r, u, items, at in rows]
    clicks = [ClickEvent(r, u, str(i)) for r, u, i in click_rows]
    table, audit = credit_table_from_events(
        [page for page, _ in pages], clicks, n_teams=max(len(teams), 2)
    )
    running = days_running(experiment, now)
    analysed = int(np.sum(table.impressions))
    return InterleavingReport(
        experiment=experiment,
        teams=teams,
        pages=len(pages),
        analysed_pages=analysed,
        excluded_pages=len(pages) - analysed,
        unattributed_clicks=table.unattributed_clicks,
        audit=audit,
        users=len(table.users),
        pairs=_pairs(table, teams, control, experiment.alpha) if len(teams) >= 2 else [],
        positions=_positions(table, teams),
        days_running=running,
        preliminary=running < experiment.min_runtime_days,
        chart=_chart(pages, clicks, teams, control, experiment.alpha),
    )
