"""One rollup at a time, across processes and hosts.

``do_run_rollups`` already serialises its writes (the state row's lock on PostgreSQL, the
write lock on SQLite), but a second run then waits for the first and repeats its work, and on
SQLite it fails with "database is locked" once the first takes longer than the busy timeout
(seen with two beats after a worker restart). The lock here is taken before a run:
PostgreSQL's session advisory lock in production (released with the session, so a killed
worker never leaves it held), an exclusive ``flock`` on ``SPLITLAB_VAR_DIR/rollup.lock`` with
SQLite (one host; released by the kernel when its holder dies).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from writebehind.bulk import is_postgresql

# pg_advisory_lock's key: any constant no other code uses ("splitlab rollup").
ADVISORY_KEY = 0x5370_6C69_7452_6F6C
POLL_SECONDS = 0.2


@contextmanager
def rollup_lock(*, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Yield True while this process holds the rollup lock; False when another holder kept
    it for ``wait_seconds`` (0: do not wait)."""
    if is_postgresql():
        with _advisory_lock(wait_seconds) as held:
            yield held
    else:
        with _file_lock(Path(settings.VAR_DIR) / "rollup.lock", wait_seconds) as held:
            yield held


def _retry(attempt, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


@contextmanager
def _advisory_lock(wait_seconds: float) -> Iterator[bool]:
    def attempt() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            return bool(cursor.fetchone()[0])

    held = _retry(attempt, wait_seconds)
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])


@contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:

        def attempt() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        held = _retry(attempt, wait_seconds)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)
