"""The prefork pool, with children that survive a sibling killed while idle.

Celery runs its prefork pool in one of two modes. Over Redis (an asynchronous transport) each
child has its own pipe. Over the embedded ``filesystem://`` broker (a polling transport) the
children share one task pipe guarded by one lock, and billiard's idle child waits for its next
task *holding that lock*. A child killed while idle (SIGKILL, the out-of-memory killer) takes
the lock with it: the pool forks a replacement, but it and every sibling wait for the lock
forever, the worker stops consuming, and every recommendation falls back at its deadline
(seen: 307 of 307 over two minutes).

Here an idle child waits on the pipe *without* the lock, takes the lock only once a task is
there, and reads it with a bounded wait; a child can now die holding the lock only in the
microseconds of one read. ``config.celery`` points the ``prefork`` pool name at this class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billiard import pool as billiard_pool
from billiard.common import pickle_loads
from celery.concurrency import prefork

# Longest wait, in seconds, for the shared task pipe's lock before looking again.
LOCK_WAIT_SECONDS = 1.0


class Worker(billiard_pool.Worker):
    """A pool child that holds the shared task pipe's lock only while reading one task."""

    def _make_recv_method(self, conn: Any) -> Callable[[float], tuple[bool, Any]]:
        lock = getattr(conn, "_rlock", None)
        reader = getattr(conn, "_reader", None)
        if lock is None or reader is None:  # an unshared pipe: nothing to protect
            return super()._make_recv_method(conn)

        def receive(timeout: float) -> tuple[bool, Any]:
            if not reader.poll(timeout):
                return False, None
            if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
                return False, None  # a sibling is reading; look again
            try:
                if not reader.poll(0):  # a sibling took the task
                    return False, None
                payload = reader.recv_bytes()
            finally:
                lock.release()
            return True, pickle_loads(payload)

        return receive


class BlockingPool(billiard_pool.Pool):
    Worker = Worker


class TaskPool(prefork.TaskPool):
    """Celery's prefork pool with :class:`Worker` children in its shared-pipe mode."""

    BlockingPool = BlockingPool
