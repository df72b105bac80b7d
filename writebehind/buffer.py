"""One write-behind buffer for every record the request path must not write itself.

A :class:`WriteBehindBuffer` holds records of one kind (exposures, served lists, counter
increments) and writes them in bulk with the function it was given:

* **durable first**: with a journal (``SPLITLAB_JOURNAL_DIR``, see
  :mod:`writebehind.journal`) :meth:`~WriteBehindBuffer.add` appends the records to this
  process's journal before it returns, so they survive the process; the segments are deleted
  only once the records are stored;
* **batching**: a flush is due once ``max_rows`` records wait or the oldest has waited
  ``max_age_seconds``; it happens after the response (``flush_if_due`` on Django's
  ``request_finished``, in the request's thread: the next request of a sync worker waits for
  it) or, for buffers made ``in_thread`` (a flag, or a function read at each use, so that a
  setting can choose), on the process's one flusher thread, woken when a buffer fills;
* **retry**: a flush that meets a ``DatabaseError`` keeps its records (and journal segments)
  for the next attempt; without a journal at most ``RETRY_LIMIT_FACTOR`` x ``max_rows`` are
  kept, beyond that they are dropped and logged (with a journal nothing is dropped: memory
  grows with the outage, about 200 bytes a record);
* **exit**: every buffer is flushed at interpreter exit (gunicorn's graceful worker exit,
  Celery's warm shutdown, management commands);
* **replay**: the flusher thread writes the journals of dead processes (see the journal)
  when it starts and every ``REPLAY_SECONDS``.

The writer must be idempotent (a replay may repeat a write whose commit was not recorded)
and raise ``DatabaseError`` only for what a later attempt may fix.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from writebehind.journal import Journal

__all__ = ["RETRY_LIMIT_FACTOR", "WriteBehindBuffer", "flush_all", "flush_due_after_response"]

logger = logging.getLogger(__name__)

RETRY_LIMIT_FACTOR = 50
REPLAY_SECONDS = 10.0
IDLE_TICK_SECONDS = 0.5

Writer = Callable[[list[Any]], int]


class WriteBehindBuffer:
    """Pending records of one kind; see the module docstring."""

    def __init__(
        self,
        name: str,
        write: Writer,
        *,
        max_rows: Callable[[], int],
        max_age_seconds: Callable[[], float],
        journaled: bool = False,
        in_thread: bool | Callable[[], bool] = False,
        replay_write: Writer | None = None,
    ) -> None:
        self.name = name
        self.write = write
        self.replay_write = replay_write or write
        self.max_rows = max_rows
        self.max_age_seconds = max_age_seconds
        self.journaled = journaled
        self._in_thread = in_thread
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()  # one flush at a time: segments follow records
        self.records: list[Any] = []
        self.oldest: float | None = None
        self.kept_segments: list[Path] = []  # segments of records kept after a failed write
        self._journal: Journal | None = None
        _registry.append(self)

    @property
    def in_thread(self) -> bool:
        """Whether the flusher thread writes this buffer (else the request's thread does,
        after its response)."""
        in_thread = self._in_thread
        return bool(in_thread() if callable(in_thread) else in_thread)

    # --- the request path -----------------------------------------------------------------
    def add(self, records: list[Any]) -> None:
        """Journal (when configured) and keep ``records``; never writes the database."""
        if not records:
            return
        journal = self.journal()
        position = None
        # One lock over the journal append and the memory: a flush rotates the journal under
        # it, so a record is in the segments a flush deletes only if that flush wrote it.
        with self.lock:
            if journal is not None:
                position = journal.append(records)
            if not self.records:
                self.oldest = time.monotonic()
            self.records.extend(records)
        if journal is not None:
            journal.make_durable(position)
        in_thread = self.in_thread
        if journal is not None or in_thread:
            _flusher.ensure_running()
            if in_thread and self.is_due():
                _flusher.wake.set()

    def journal(self) -> Journal | None:
        """This buffer's journal, or None when ``SPLITLAB_JOURNAL_DIR`` is empty."""
        if not self.journaled:
            return None
        directory = str(getattr(settings, "SPLITLAB_JOURNAL_DIR", "") or "")
        if not directory:
            return None
        journal = self._journal
        mode = settings.SPLITLAB_JOURNAL_SYNC
        if journal is None or journal.folder.parent != Path(directory) or journal.sync_mode != mode:
            journal = self._journal = Journal(Path(directory), self.name, sync_mode=mode)
        return journal

    # --- flushing -------------------------------------------------------------------------
    def is_due(self, now: float | None = None) -> bool:
        with self.lock:
            if not self.records:
                return False
            if len(self.records) >= max(self.max_rows(), 1):
                return True
            now = time.monotonic() if now is None else now
            return self.oldest is not None and now - self.oldest >= self.max_age_seconds()

    def flush(self) -> int:
        """Write what is pending; returns what the writer reports (0 after a failure)."""
        with self.flush_lock:
            journal = self._journal if self.journaled else None
            with self.lock:
                records, self.records, self.oldest = self.records, [], None
                segments = self.kept_segments + (journal.rotate() if journal else [])
                self.kept_segments = []
            if not records:
                Journal.discard(segments)
                return 0
            try:
                written = self.write(records)
            except DatabaseError:
                logger.exception("%s: write failed; keeping %d records", self.name, len(records))
                self._keep(records, segments)
                return 0
            Journal.discard(segments)
            return written

    def _keep(self, records: list[Any], segments: list[Path]) -> None:
        with self.lock:
            limit = max(self.max_rows(), 1) * RETRY_LIMIT_FACTOR
            if not segments and len(records) > limit:
                logger.error("%s: over %d records while the database fails", self.name, limit)
                return
            self.records = records + self.records
            self.kept_segments = segments + self.kept_segments
            self.oldest = time.monotonic()

    def pending(self) -> list[Any]:
        """A copy of the records not yet written."""
        with self.lock:
            return list(self.records)

    def discard(self) -> None:
        """Drop everything without writing it, journal included (tests)."""
        with self.flush_lock, self.lock:
            self.records, self.oldest = [], None
            Journal.discard(self.kept_segments)
            self.kept_segments = []
            if self._journal is not None:
                self._journal.clear()

    def replay_dead(self) -> int:
        """Write the journals of dead processes with ``replay_write`` (default: the writer;
        see :meth:`Journal.replay_dead`)."""
        journal = self.journal()
        if journal is None:
            return 0
        return journal.replay_dead(self.replay_write)


_registry: list[WriteBehindBuffer] = []


class _Flusher:
    """The process's one background thread: syncs journals, flushes ``in_thread`` buffers
    that are due, replays dead processes' journals."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.replayed_at = 0.0
        self.stopping = False

    def ensure_running(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.replayed_at = 0.0  # a new process (or fork) replays first
                self.stopping = False
                self.thread = threading.Thread(
                    target=self._run, name="write-behind-flusher", daemon=True
                )
                self.thread.start()

    def _tick(self) -> float:
        ticks = [IDLE_TICK_SECONDS, float(settings.SPLITLAB_JOURNAL_SYNC_SECONDS)]
        ticks += [b.max_age_seconds() for b in _registry if b.in_thread]
        return max(min(ticks), 0.01)

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """End the thread after its current pass (tests: a test's database goes away with it);
        the next ``add`` starts a new one."""
        thread = self.thread
        if thread is None:
            return
        self.stopping = True
        self.wake.set()
        thread.join(timeout_seconds)

    def _run(self) -> None:
        while True:
            self.wake.wait(timeout=self._tick())
            self.wake.clear()
            if self.stopping:
                return
            try:
                self._once()
            except Exception:  # the thread must outlive any single failure
                logger.exception("write-behind flusher")

    def _once(self) -> None:
        for buffer in _registry:
            journal = buffer._journal if buffer.journaled else None
            if journal is not None:
                journal.sync()
        close_old_connections()
        for buffer in _registry:
            if buffer.in_thread and buffer.is_due():
                buffer.flush()
        if time.monotonic() - self.replayed_at >= REPLAY_SECONDS:
            self.replayed_at = time.monotonic()
            for buffer in _registry:
                try:
                    buffer.replay_dead()
                except DatabaseError:
                    logger.exception("%s: replay failed; retried later", buffer.name)


_flusher = _Flusher()


def _after_fork_in_child() -> None:
    """A forked child starts with fresh locks (a thread of the parent may have held one at
    the fork), its own flusher thread and empty buffers: the records pending at the fork,
    and the journal files, stay the parent's to write (counters must not count twice)."""
    _flusher.lock, _flusher.thread = threading.Lock(), None
    for buffer in _registry:
        buffer.lock, buffer.flush_lock = threading.Lock(), threading.Lock()
        buffer.records, buffer.oldest, buffer.kept_segments = [], None, []
        if buffer._journal is not None:
            buffer._journal.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def flush_due_after_response(buffers: Iterable[WriteBehindBuffer]) -> None:
    """Flush those of ``buffers`` that are due (a ``request_finished`` receiver's body),
    except those the flusher thread writes."""
    for buffer in buffers:
        if not buffer.in_thread and buffer.is_due():
            buffer.flush()


def stop_flusher() -> None:
    """Stop the process's flusher thread (tests, between tests); buffers are kept."""
    _flusher.stop()


def flush_all() -> None:
    """Flush every buffer now (exit, tests, scripts)."""
    for buffer in _registry:
        buffer.flush()


@atexit.register
def _flush_at_exit() -> None:
    """Flush every buffer, then replay what dead processes left (a graceful restart thus
    leaves no journal behind)."""
    for buffer in _registry:
        try:
            buffer.flush()
            buffer.replay_dead()
        except Exception:  # the database may be gone at exit; the journal keeps the rows
            logger.exception("%s: not flushed at exit", buffer.name)
