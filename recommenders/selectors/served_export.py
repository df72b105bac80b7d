"""The served lists of a window with their propensities and clicks, as CSV for analysis.

One row per (served list, position): the list's request, user, surface, time, model version
and serving policy (``greedy``, ``plackett_luce``, ``epsilon_greedy``; empty for lists
logged without propensities), the list's probability, the item, its score, its marginal
propensity at that position (recomputed from the logged pool for Plackett-Luce,
:func:`recommenders.core.served_exploration.logged_marginals`), its step propensity, and
whether a click on that request hit it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np

from analytics.models import Event, EventType, ServedList
from recommenders.core.served_exploration import PLACKETT_LUCE, logged_marginals

COLUMNS = (
    "request_id", "user_id", "surface", "served_at", "model_version", "policy",
    "list_probability", "position", "item_id", "score", "propensity", "step_propensity",
    "clicked",
)  # fmt: skip
BATCH = 2000


def served_lists_csv(
    since: datetime, until: datetime | None = None, surface: str = ""
) -> Iterator[str]:
    """The CSV, a line at a time (header first; see the module docstring), so that a large
    window streams instead of being held in memory."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in served_rows(since, until, surface):
        writer.writerow([row[name] for name in COLUMNS])
        if out.tell() > 65536:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def served_rows(
    since: datetime, until: datetime | None = None, surface: str = ""
) -> Iterator[dict[str, Any]]:
    """The export's rows, read in batches of ``BATCH`` lists."""
    lists = ServedList.objects.filter(served_at__gte=since).order_by("served_at", "id")
    if until is not None:
        lists = lists.filter(served_at__lt=until)
    if surface:
        lists = lists.filter(surface=surface)
    memo: dict[tuple, np.ndarray] = {}
    batch: list[ServedList] = []
    for served in lists.iterator(chunk_size=BATCH):
        batch.append(served)
        if len(batch) == BATCH:
            yield from _batch_rows(batch, memo)
            batch = []
    yield from _batch_rows(batch, memo)


def _batch_rows(batch: list[ServedList], memo: dict[tuple, np.ndarray]) -> Iterator[dict]:
    if not batch:
        return
    clicked = set(
        Event.objects.filter(
            type=EventType.CLICK, request_id__in=[s.request_id for s in batch]
        ).values_list("request_id", "item_id")
    )
    for served in batch:
        log = served.exploration or {}
        marginals: list[float | None] = [item.get("propensity") for item in served.items]
        if log.get("policy") == PLACKETT_LUCE and None in marginals:
            marginals = list(logged_marginals(log, len(served.items), memo))
        for item, propensity in zip(served.items, marginals, strict=True):
            yield {
                "request_id": served.request_id,
                "user_id": served.user_id,
                "surface": served.surface,
                "served_at": served.served_at.isoformat(),
                "model_version": served.model_version,
                "policy": log.get("policy", ""),
                "list_probability": log.get("list_probability", ""),
                "position": item.get("position"),
                "item_id": item["item_id"],
                "score": item.get("score"),
                "propensity": "" if propensity is None else propensity,
                "step_propensity": item.get("step_propensity", ""),
                "clicked": int((served.request_id, item["item_id"]) in clicked),
            }
