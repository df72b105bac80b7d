"""What the serving path records: served lists (through analytics) and request counters.

Both are buffered per process so that a request does not pay for a database write of its
own: counters are flushed with one ``UPDATE ... SET value = value + n`` per name at most
every ``SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS``; served lists are handed to
``analytics.services.ingestion.record_served_lists`` by a background thread of the process,
in batches of up to ``SPLITLAB_SERVED_LIST_BUFFER_ROWS`` rows (woken when the buffer is
full) or when the oldest has waited ``SPLITLAB_SERVED_LIST_FLUSH_SECONDS``, and at process
exit: no request waits for the write. With a buffer of 0 rows every list is written in the
request. A process killed with SIGKILL loses at most its unflushed buffer.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F

from recommenders.models import ServingCounter

logger = logging.getLogger(__name__)

__all__ = ["count", "counter_snapshot", "discard_buffers", "flush_all", "log_served_list"]


class _CounterBuffer:
    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()
        self.flushed_at = time.monotonic()
        self.lock = threading.Lock()

    def add(self, names: list[str]) -> None:
        with self.lock:
            self.pending.update(names)
        if time.monotonic() - self.flushed_at >= settings.SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, Counter()
            self.flushed_at = time.monotonic()
        try:
            for name, delta in sorted(pending.items()):
                _increment(name, delta)
        except Exception:  # counting must never fail a request; keep the counts for later
            logger.exception("serving counters not flushed")
            with self.lock:
                self.pending.update(pending)


def _increment(name: str, delta: int) -> None:
    if ServingCounter.objects.filter(name=name).update(value=F("value") + delta):
        return
    try:
        with transaction.atomic():
            ServingCounter.objects.create(name=name, value=delta)
    except IntegrityError:  # another process created it meanwhile
        ServingCounter.objects.filter(name=name).update(value=F("value") + delta)


class _ServedListBuffer:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.oldest_at = 0.0
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()  # set when the buffer is full

    def add(self, row: dict[str, Any]) -> None:
        limit = settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS
        if limit <= 0:
            _write([row])
            return
        with self.lock:
            if not self.rows:
                self.oldest_at = time.monotonic()
            self.rows.append(row)
            due = len(self.rows) >= limit or self._too_old()
        self._ensure_thread()
        if due:  # written by the flusher thread, not in this request
            self.wake.set()

    def _due(self) -> bool:
        limit = settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS
        return len(self.rows) >= max(limit, 1) or self._too_old()

    def _too_old(self) -> bool:
        age = time.monotonic() - self.oldest_at
        return bool(self.rows) and age >= settings.SPLITLAB_SERVED_LIST_FLUSH_SECONDS

    def flush(self) -> int:
        with self.lock:
            rows, self.rows = self.rows, []
        if not rows:
            return 0
        try:
            return _write(rows)
        except Exception:
            logger.exception("served lists not written; kept for the next flush")
            with self.lock:
                self.rows = rows + self.rows
            return 0

    def _ensure_thread(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        self.thread = threading.Thread(target=self._run, name="served-list-flusher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait(timeout=settings.SPLITLAB_SERVED_LIST_FLUSH_SECONDS)
            self.wake.clear()
            with self.lock:
                due = self._due()
            if due:
                close_old_connections()
                self.flush()


def _write(rows: list[dict[str, Any]]) -> int:
    from analytics.services.ingestion import record_served_lists

    return record_served_lists(rows)


_counters = _CounterBuffer()
_served = _ServedListBuffer()


def count(*names: str) -> None:
    """Add one to each named counter (buffered)."""
    _counters.add(list(names))


def counter_snapshot() -> dict[str, int]:
    """Stored counters plus what this process has not flushed yet."""
    values = dict(ServingCounter.objects.values_list("name", "value"))
    with _counters.lock:
        for name, delta in _counters.pending.items():
            values[name] = values.get(name, 0) + delta
    return values


def log_served_list(row: dict[str, Any]) -> None:
    """Record one served list (``record_served_lists``'s row format), buffered."""
    _served.add(row)


def flush_all() -> None:
    """Write everything buffered now (process exit, tests)."""
    _served.flush()
    _counters.flush()


def discard_buffers() -> None:
    """Drop what is buffered without writing it (tests, between database resets)."""
    with _counters.lock:
        _counters.pending.clear()
    with _served.lock:
        _served.rows.clear()


@atexit.register
def _flush_at_exit() -> None:
    try:
        flush_all()
    except Exception:  # the database may already be gone at interpreter exit
        logger.exception("serving buffers not flushed at exit")
