"""A web process's background threads: a refresher that keeps in memory what a request reads,
and bounded readers for the one read a request may still make.

Why: a request's own database round trips add to its latency whatever the serving deadline
says. With the database 200 ms away (a slow network, an overloaded server) the reads a request
made when a cache had expired (configuration, model versions, popular list, API key) and the
connection's health check cost it seconds. So:

* **the refresher**: each app registers what it keeps in memory (:func:`register`: a name, a
  function that reloads it, its TTL). One daemon thread per process runs each job every half
  its TTL, so a value is reloaded before it expires while the database answers in time; a
  request then only reads memory. A cache asks :func:`running` whether to trust a value past
  its TTL: while the refresher runs, the request serves the value in memory (the refresher's
  next pass replaces it; while the database is unreachable the last value stays, as before);
  on a cold miss (nothing loaded yet) the request reads once itself. A job that fails is
  logged, keeps its value and is tried again at its next turn.
* **bounded readers**: :func:`read_within` runs a read on one of ``READERS`` threads and waits
  at most the given time; past it, or when every reader is still busy with a slow read, it
  raises :class:`ReadTimedOut` and the caller answers from memory (the read goes on, its
  result is dropped). A reader whose read failed drops its connection, so the next read
  reconnects.

Both start lazily, once per process id, in the process that serves: gunicorn's worker imports
``config.wsgi`` after its fork (never ``--preload``), and ``request_started`` starts them again
in a process forked later. ``SPLITLAB_BACKGROUND_THREADS=false`` turns both off (the tests: a
thread of its own sees neither a test's open transaction nor its settings when expected): then
every read happens in the request's thread when its TTL expires, unbounded, as before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, connections

__all__ = [
    "READERS",
    "ReadTimedOut",
    "enabled",
    "ensure_started",
    "read_within",
    "refresh_now",
    "register",
    "running",
    "stop",
]

logger = logging.getLogger(__name__)

READERS = 2  # reads in flight at once per process; more wait for none (they time out at once)
MIN_INTERVAL_SECONDS = 0.05  # a TTL of 0 must not spin the refresher
IDLE_SECONDS = 5.0  # the refresher's wait with no job registered

T = TypeVar("T")


def enabled() -> bool:
    """``SPLITLAB_BACKGROUND_THREADS``: whether this process may run the threads."""
    return bool(getattr(settings, "SPLITLAB_BACKGROUND_THREADS", True))


# --- the refresher -----------------------------------------------------------------------------
@dataclass
class _Job:
    name: str
    refresh: Callable[[], object]
    ttl_seconds: Callable[[], float]
    due_at: float = 0.0  # monotonic

    def interval_seconds(self) -> float:
        return max(float(self.ttl_seconds()) / 2.0, MIN_INTERVAL_SECONDS)


_jobs: dict[str, _Job] = {}


def register(name: str, refresh: Callable[[], object], ttl_seconds: Callable[[], float]) -> None:
    """Have the refresher call ``refresh()`` every ``ttl_seconds() / 2`` (read at each turn, so
    a changed setting applies). Registering a name again replaces its job."""
    _jobs[name] = _Job(name, refresh, ttl_seconds)


class _Refresher:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()  # each thread has its own: a late one never resumes
        self.pid = -1

    def running(self) -> bool:
        thread = self.thread
        return (
            thread is not None
            and self.pid == os.getpid()
            and not self.stopped.is_set()
            and thread.is_alive()
        )

    def ensure_started(self) -> bool:
        if not enabled():
            return False
        if self.running():
            return True
        with self.lock:
            if not self.running():
                for job in _jobs.values():
                    job.due_at = 0.0  # a new process loads everything at once
                self.stopped = threading.Event()
                self.pid = os.getpid()
                self.thread = threading.Thread(
                    target=_run, args=(self.stopped,), name="splitlab-refresher", daemon=True
                )
                self.thread.start()
        return True

    def stop(self, timeout_seconds: float) -> None:
        thread, self.thread = self.thread, None
        self.stopped.set()
        ours = thread is not None and self.pid == os.getpid()
        if ours and thread is not threading.current_thread():
            thread.join(timeout_seconds)


def _run(stopped: threading.Event) -> None:
    """The refresher thread: the jobs that are due, then a sleep until the next one is."""
    try:
        while not stopped.is_set():
            try:
                _pass(stopped)
            except Exception:  # the thread must outlive any single failure
                logger.exception("background refresher")
            next_due = min((job.due_at for job in _jobs.values()), default=None)
            wait = IDLE_SECONDS if next_due is None else next_due - time.monotonic()
            stopped.wait(max(wait, MIN_INTERVAL_SECONDS))
    finally:
        connections.close_all()  # this thread's own connections


def _pass(stopped: threading.Event) -> None:
    due = [job for job in list(_jobs.values()) if time.monotonic() >= job.due_at]
    if not due:
        return
    # Drops a connection broken or past CONN_MAX_AGE, as a request's start does.
    close_old_connections()
    for job in due:
        if stopped.is_set():
            return
        job.due_at = time.monotonic() + job.interval_seconds()  # start to start
        _run_job(job)


def _run_job(job: _Job) -> None:
    try:
        job.refresh()
    except Exception as error:  # the value in memory stays; the next turn tries again
        logger.warning(
            "background refresh %r failed (%s: %s); the value in memory is kept",
            job.name,
            type(error).__name__,
            error,
        )
        logger.debug("background refresh %r", job.name, exc_info=True)


_refresher = _Refresher()


def running() -> bool:
    """Whether this process's refresher is running: a cache may serve its value past the
    TTL (the refresher replaces it) instead of reading in the request."""
    return _refresher.running()


def ensure_started(**_: object) -> bool:
    """Start this process's refresher unless running or turned off (a ``request_started``
    receiver); returns whether it runs."""
    return _refresher.ensure_started()


def stop(timeout_seconds: float = 5.0) -> None:
    """End the refresher after its current job (tests); :func:`ensure_started` starts it
    again."""
    _refresher.stop(timeout_seconds)


def refresh_now() -> None:
    """Run every registered job once in the calling thread (warm-up, tests)."""
    for job in list(_jobs.values()):
        _run_job(job)


# --- bounded readers ---------------------------------------------------------------------------
class ReadTimedOut(Exception):
    """The read did not answer in time, or every reader was busy."""


class _Readers:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = -1
        self.pool: ThreadPoolExecutor | None = None
        self.slots = threading.BoundedSemaphore(READERS)

    def _pool(self) -> ThreadPoolExecutor:
        if self.pool is None or self.pid != os.getpid():
            with self.lock:
                if self.pool is None or self.pid != os.getpid():
                    self.pool = ThreadPoolExecutor(READERS, thread_name_prefix="splitlab-reader")
                    self.slots = threading.BoundedSemaphore(READERS)
                    self.pid = os.getpid()
        return self.pool

    def read_within(self, read: Callable[[], T], timeout_seconds: float) -> T:
        pool = self._pool()
        slots = self.slots
        if not slots.acquire(blocking=False):
            raise ReadTimedOut(f"all {READERS} readers are busy with slow reads")
        try:
            future = pool.submit(_read_in_reader, read, slots)
        except BaseException:
            slots.release()
            raise
        try:
            return future.result(timeout=timeout_seconds)
        except FutureTimeout:
            raise ReadTimedOut(f"no answer within {timeout_seconds * 1000:.0f} ms") from None


def _read_in_reader(read: Callable[[], T], slots: threading.BoundedSemaphore) -> T:
    try:
        return read()
    except Exception:
        connection.close()  # this reader's connection: the next read starts a fresh one
        raise
    finally:
        slots.release()


_readers = _Readers()


def read_within(read: Callable[[], T], timeout_seconds: float) -> T:
    """``read()`` on a reader thread, waited for at most ``timeout_seconds``; raises
    :class:`ReadTimedOut` past it (or at once when every reader is busy), and what ``read``
    raised otherwise. Without background threads, or with a bound of 0 or less, ``read()``
    runs in the calling thread, unbounded."""
    if timeout_seconds <= 0 or not enabled():
        return read()
    return _readers.read_within(read, timeout_seconds)


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads and fresh locks (a parent's thread may
    have held one at the fork); its threads start on its own first use."""
    _refresher.lock, _refresher.thread, _refresher.stopped = (
        threading.Lock(),
        None,
        threading.Event(),
    )
    _readers.lock, _readers.pool, _readers.pid = threading.Lock(), None, -1


os.register_at_fork(after_in_child=_after_fork_in_child)
