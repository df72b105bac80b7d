"""Storing events and served lists in bulk, each exactly once.

Batch semantics: a batch is validated event by event; the valid events are stored and the
invalid ones are reported back (index, event_id, reasons by field). Storing is idempotent by
``event_id``: an id already stored, or repeated inside the batch, is counted as a duplicate and
answered as a success, never stored twice.

The rows go through :func:`writebehind.bulk.insert_new_rows` (on PostgreSQL a probe for the
ids already stored, then ``COPY``, falling back to a temporary table and
``INSERT ... ON CONFLICT (event_id) DO NOTHING`` when a concurrent request stored one of them
in between; on SQLite ``INSERT OR IGNORE``), which reports how many rows were new.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analytics.services.event_validation import ROW_COLUMNS, EventError, TimeWindow, check_event
from writebehind import bulk

MAX_BATCH_SIZE = 10_000

_COLUMNS = (*ROW_COLUMNS, "received_at")


@dataclass
class IngestResult:
    """What happened to a batch: new rows, duplicates (success too) and rejections."""

    received: int
    stored: int
    duplicates: int
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates


def current_window(now: datetime | None = None) -> TimeWindow:
    """The accepted timestamp window from settings, around ``now`` (default: the clock)."""
    return TimeWindow(
        now=now or timezone.now(),
        past_seconds=float(settings.SPLITLAB_EVENT_PAST_WINDOW_SECONDS),
        future_seconds=float(settings.SPLITLAB_EVENT_FUTURE_WINDOW_SECONDS),
    )


def check_events(
    events: list[Any], window: TimeWindow
) -> tuple[list[tuple], list[dict[str, Any]], int]:
    """Validate a batch: rows to store (first of each event_id), rejections, in-batch repeats."""
    rows: list[tuple] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    repeats = 0
    for index, event in enumerate(events):
        try:
            row = check_event(event, window)
        except EventError as exc:
            event_id = event.get("event_id") if isinstance(event, dict) else None
            rejected.append(
                {
                    "index": index,
                    "event_id": event_id if isinstance(event_id, str | int) else None,
                    "errors": exc.errors,
                }
            )
            continue
        if row[0] in seen:
            repeats += 1
            continue
        seen.add(row[0])
        rows.append(row)
    return rows, rejected, repeats


def refuse_unknown_references(
    rows: list[tuple], rejected: list[dict[str, Any]], first_index: dict[str, int]
) -> list[tuple]:
    """The rows whose ``experiment`` and ``surface`` name something; the others join
    ``rejected`` (by batch index) naming the field and the value.

    An experiment is known when one with that key exists (any status: late events of a
    stopped experiment are still its events); a surface when listed in ``SPLITLAB_SURFACES``
    or any experiment runs on it. Two queries per batch, for the distinct names only.
    """
    from experiments.models import Experiment

    experiments = {row[11] for row in rows if row[11]}
    surfaces = {row[10] for row in rows if row[10]} - set(settings.SPLITLAB_SURFACES)
    if not experiments and not surfaces:
        return rows
    known_experiments = set(
        Experiment.objects.filter(key__in=experiments).values_list("key", flat=True)
    )
    known_surfaces = set(settings.SPLITLAB_SURFACES) | set(
        Experiment.objects.filter(surface__in=surfaces).values_list("surface", flat=True)
    )
    kept = []
    for row in rows:
        errors = {}
        if row[11] and row[11] not in known_experiments:
            errors["experiment"] = f"unknown experiment {row[11]!r}"
        if row[10] and row[10] not in known_surfaces:
            errors["surface"] = (
                f"unknown surface {row[10]!r}; known surfaces: "
                f"{', '.join(sorted(settings.SPLITLAB_SURFACES))} and those of experiments"
            )
        if errors:
            rejected.append({"index": first_index[row[0]], "event_id": row[0], "errors": errors})
        else:
            kept.append(row)
    rejected.sort(key=lambda item: item["index"])
    return kept


def do_ingest_events(events: list[Any], *, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch of reported events; see the module docstring.

    The caller has checked that ``events`` is a list of at most :data:`MAX_BATCH_SIZE`.
    Runs in its own transaction; the unique index on ``event_id`` is the only lock taken, so
    concurrent batches holding the same ids store each id once.
    """
    received_at = now or timezone.now()
    rows, rejected, repeats = check_events(events, current_window(received_at))
    rows = refuse_unknown_references(rows, rejected, _first_index(events, rows))
    stored = insert_event_rows(rows, received_at) if rows else 0
    return IngestResult(
        received=len(events),
        stored=stored,
        duplicates=len(rows) - stored + repeats,
        rejected=rejected,
    )


def _first_index(events: list[Any], rows: list[tuple]) -> dict[str, int]:
    """Batch index of each row's event (the first with its event_id)."""
    if not any(row[10] or row[11] for row in rows):
        return {}
    wanted = {row[0] for row in rows if row[10] or row[11]}
    index: dict[str, int] = {}
    for position, event in enumerate(events):
        event_id = event.get("event_id") if isinstance(event, dict) else None
        key = str(event_id) if isinstance(event_id, str | int) else None
        if key in wanted and key not in index:
            index[key] = position
    return index


def insert_event_rows(rows: list[tuple], received_at: datetime) -> int:
    """Insert validated rows (``ROW_COLUMNS`` order), skipping known ids; return new rows."""
    stored = [
        (
            *row[:13],
            None if row[13] is None else json.dumps(row[13]),
            json.dumps(row[14]) if row[14] else "{}",
            received_at,
        )
        for row in rows
    ]
    with transaction.atomic():
        return bulk.insert_new_rows("analytics_event", _COLUMNS, stored, key="event_id")


def _served_row(row: Mapping[str, Any]) -> tuple:
    served_at = row.get("served_at") or timezone.now()
    return (
        str(row["request_id"]),
        str(row["user_id"]),
        str(row.get("experiment_key") or ""),
        str(row.get("variant_key") or ""),
        str(row.get("model_version") or ""),
        str(row.get("surface") or ""),
        [_served_item(item, index) for index, item in enumerate(row.get("items") or [])],
        row.get("exploration") or None,
        served_at,
    )


def _served_item(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    """One stored item; the propensities only where the serving path logged them, and on an
    interleaved list ``team`` (the variant that contributed it) and, on a page excluded from
    the analysis, ``interleaving``."""
    stored = {
        "item_id": str(item["item_id"]),
        "position": int(item.get("position", index)),
        "score": None if item.get("score") is None else float(item["score"]),
        "source": str(item.get("source") or ""),
    }
    for name in ("propensity", "step_propensity"):
        if name in item:
            stored[name] = None if item[name] is None else float(item[name])
    for key in ("team", "interleaving"):
        if item.get(key) is not None:
            stored[key] = str(item[key])
    return stored


def record_served_lists(rows: Iterable[Mapping[str, Any]]) -> int:
    """Store served recommendation lists once per ``request_id``; return how many were new.

    Each row: ``request_id``, ``user_id``, ``experiment_key``, ``variant_key``,
    ``model_version`` (str), ``surface``, ``items`` ([{item_id, position, score, source}],
    with ``propensity`` and ``step_propensity`` where logged, plus ``team`` and ``interleaving``
    on an interleaving experiment's lists), ``exploration`` (the serving policy's log, or None)
    and ``served_at`` (aware datetime; default now). A ``request_id`` already recorded is
    skipped, so a retried serving task never writes a list twice. Raises ``KeyError`` for a
    row without ``request_id`` or ``user_id`` (a programming error of the caller, not client
    input).
    """
    from analytics.models import ServedList

    prepared = [_served_row(row) for row in rows]
    if not prepared:
        return 0
    objects = [
        ServedList(
            request_id=request_id,
            user_id=user_id,
            experiment_key=experiment_key,
            variant_key=variant_key,
            model_version=model_version,
            surface=surface,
            items=items,
            exploration=exploration,
            served_at=served_at,
        )
        for (
            request_id,
            user_id,
            experiment_key,
            variant_key,
            model_version,
            surface,
            items,
            exploration,
            served_at,
        ) in prepared
    ]
    with transaction.atomic():
        request_ids = [obj.request_id for obj in objects]
        before = ServedList.objects.filter(request_id__in=request_ids).count()
        ServedList.objects.bulk_create(objects, ignore_conflicts=True, batch_size=1000)
        after = ServedList.objects.filter(request_id__in=request_ids).count()
    return after - before
