"""What the serving path records: served lists (through analytics) and request counters.

Both are :class:`writebehind.buffer.WriteBehindBuffer` s, so that a request does not pay for
a database write of its own; the process's flusher thread writes them:

* served lists are journaled (durable before the response; see :mod:`writebehind.journal`)
  and handed to ``analytics.services.ingestion.record_served_lists`` (idempotent by
  ``request_id``) in batches of up to ``SPLITLAB_SERVED_LIST_BUFFER_ROWS`` rows (the thread
  is woken when the buffer is full) or when the oldest has waited
  ``SPLITLAB_SERVED_LIST_FLUSH_SECONDS``. With a buffer of 0 rows every list is written in
  the request.
* counter increments are summed and added with one upsert per name
  (:func:`writebehind.bulk.add_to_counters`) every ``SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS``,
  by the flusher thread (``SPLITLAB_BACKGROUND_THREADS``, the default), else after a response
  (Django's ``request_finished``), never before it; they are operational figures, not
  journaled: a SIGKILL loses at most that interval's counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.conf import settings

from recommenders.models import ServingCounter
from writebehind import bulk
from writebehind.buffer import WriteBehindBuffer, flush_due_after_response

__all__ = ["count", "counter_snapshot", "discard_buffers", "flush_all", "log_served_list"]


def _write(rows: list[dict[str, Any]]) -> int:
    from analytics.services.ingestion import record_served_lists

    return record_served_lists(rows)


def _write_served(rows: list[dict[str, Any]]) -> int:
    return _write(rows)  # looked up at call time, so tests may replace ``_write``


def _write_counts(batches: list[list[str]]) -> int:
    deltas = Counter(name for names in batches for name in names)
    bulk.add_to_counters(ServingCounter._meta.db_table, deltas)
    return len(deltas)


class _ServedListBuffer(WriteBehindBuffer):
    """Served lists waiting for the flusher thread."""

    def __init__(self) -> None:
        super().__init__(
            "served-lists",
            _write_served,
            max_rows=lambda: settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS,
            max_age_seconds=lambda: settings.SPLITLAB_SERVED_LIST_FLUSH_SECONDS,
            journaled=True,
            in_thread=True,
        )

    def add_row(self, row: dict[str, Any]) -> None:
        if settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS <= 0:
            _write_served([row])
            return
        self.add([row])


_counters = WriteBehindBuffer(
    "serving-counters",
    _write_counts,
    max_rows=lambda: 10_000,
    max_age_seconds=lambda: settings.SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS,
    in_thread=lambda: bool(settings.SPLITLAB_BACKGROUND_THREADS),
)
_served = _ServedListBuffer()


def count(*names: str) -> None:
    """Add one to each named counter (buffered)."""
    _counters.add([list(names)])


def counter_snapshot() -> dict[str, int]:
    """Stored counters plus what this process has not flushed yet."""
    values = dict(ServingCounter.objects.values_list("name", "value"))
    for names in _counters.pending():
        for name in names:
            values[name] = values.get(name, 0) + 1
    return values


def flush_counters_if_due(**_: object) -> None:
    """``request_finished`` receiver: add the counts after the response when due."""
    flush_due_after_response([_counters])


def log_served_list(row: dict[str, Any]) -> None:
    """Record one served list (``record_served_lists``'s row format), buffered."""
    _served.add_row(row)


def flush_all() -> None:
    """Write everything buffered now (tests, scripts; the exit hook of writebehind too)."""
    _served.flush()
    _counters.flush()


def discard_buffers() -> None:
    """Drop what is buffered without writing it (tests, between database resets)."""
    _counters.discard()
    _served.discard()
