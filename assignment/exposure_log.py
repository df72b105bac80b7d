"""Exposure logging without a database write on the hot path.

Each process keeps a buffer of first exposures (experiment, phase, user) and holdout
evaluations (holdout, user), deduplicated in memory. The buffer is written insert-if-absent
in bulk (PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING``
per table; SQLite: ``INSERT OR IGNORE``), so a row that another process or an earlier flush
already wrote keeps its first timestamp and nothing is duplicated. A flush happens

* after a response has been sent (Django's ``request_finished``), once the buffer holds
  ``SPLITLAB_EXPOSURE_BUFFER_SIZE`` rows or its oldest row is
  ``SPLITLAB_EXPOSURE_FLUSH_SECONDS`` old, so no request waits for it;
* at process exit (``atexit``: gunicorn's graceful worker exit, Celery's warm shutdown,
  management commands), so a clean restart loses nothing;
* on demand: :func:`flush` (tests, scripts).

Across processes ``first_exposed_at`` is exact to within one flush interval: two processes
that saw the same new user keep whichever row committed first. A failed flush keeps the rows
for the next attempt (up to 50 buffer sizes; beyond that the oldest are dropped and logged).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, IntegrityError

from experiments.models import Experiment, Holdout, Variant

__all__ = ["ExposureBuffer", "buffer", "flush", "flush_if_due"]

logger = logging.getLogger(__name__)

ExposureKey = tuple[int, int, str]  # experiment id, phase, user id
HoldoutKey = tuple[int, str]  # holdout id, user id
SEEN_LIMIT = 200_000
RETRY_LIMIT_FACTOR = 50


class ExposureBuffer:
    """Pending first exposures of this process, with a bounded memory of written keys.

    The request path only appends to a journal (one short locked append per request);
    deduplication against pending and already written rows happens when the journal is
    drained, at flush time, after the response.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[ExposureKey, tuple[int, float]] = {}
        self.pending_holdout: dict[HoldoutKey, tuple[bool, float]] = {}
        self.journal: list[tuple[str, float, list[tuple[int, int, int]]]] = []
        self.journal_holdout: list[tuple[int, str, bool, float]] = []
        self.rows = 0  # rows pending or journaled (duplicates included): the size trigger
        self.seen: set[ExposureKey | HoldoutKey] = set()
        self.oldest: float | None = None

    def __len__(self) -> int:
        """Distinct rows waiting to be written."""
        with self.lock:
            self._drain()
            return len(self.pending) + len(self.pending_holdout)

    def add_user(self, user_id: str, exposures: list[tuple[int, int, int]], at: float) -> None:
        """Journal one user's first exposures ``(experiment id, phase, variant id)``."""
        if not exposures:
            return
        with self.lock:
            self.journal.append((user_id, at, exposures))
            self.rows += len(exposures)
            if self.oldest is None:
                self.oldest = at

    def add(self, experiment_id: int, phase: int, user_id: str, variant_id: int, at: float) -> None:
        """Journal one first exposure."""
        self.add_user(user_id, [(experiment_id, phase, variant_id)], at)

    def add_holdout(self, holdout_id: int, user_id: str, in_holdout: bool, at: float) -> None:
        """Journal that ``user_id`` was evaluated against the holdout."""
        with self.lock:
            self.journal_holdout.append((holdout_id, user_id, in_holdout, at))
            self.rows += 1
            if self.oldest is None:
                self.oldest = at

    def add_many(
        self, experiment_id: int, phase: int, rows: Iterable[tuple[str, int]], at: float
    ) -> None:
        """Remember many (user id, variant id) first exposures of one experiment and phase."""
        with self.lock:
            pending, seen = self.pending, self.seen
            for user_id, variant_id in rows:
                key = (experiment_id, phase, user_id)
                if key not in seen and key not in pending:
                    pending[key] = (variant_id, at)
            self._after_bulk(at)

    def add_holdout_many(
        self, holdout_id: int, rows: Iterable[tuple[str, bool]], at: float
    ) -> None:
        """Remember many (user id, in holdout) evaluations against one holdout."""
        with self.lock:
            pending, seen = self.pending_holdout, self.seen
            for user_id, in_holdout in rows:
                key = (holdout_id, user_id)
                if key not in seen and key not in pending:
                    pending[key] = (in_holdout, at)
            self._after_bulk(at)

    def _after_bulk(self, at: float) -> None:
        self.rows = len(self.pending) + len(self.pending_holdout) + len(self.journal_holdout)
        self.rows += sum(len(exposures) for _, _, exposures in self.journal)
        if self.oldest is None and self.rows:
            self.oldest = at

    def _drain(self) -> None:
        """Merge the journal into the pending rows (the caller holds the lock)."""
        pending, pending_holdout, seen = self.pending, self.pending_holdout, self.seen
        for user_id, at, exposures in self.journal:
            for experiment_id, phase, variant_id in exposures:
                key = (experiment_id, phase, user_id)
                if key not in seen and key not in pending:
                    pending[key] = (variant_id, at)
        for holdout_id, user_id, in_holdout, at in self.journal_holdout:
            key = (holdout_id, user_id)
            if key not in seen and key not in pending_holdout:
                pending_holdout[key] = (in_holdout, at)
        self.journal, self.journal_holdout = [], []
        self.rows = len(pending) + len(pending_holdout)
        if not self.rows:
            self.oldest = None

    def is_due(self, now: float | None = None) -> bool:
        if not self.rows:
            return False
        if self.rows >= settings.SPLITLAB_EXPOSURE_BUFFER_SIZE:
            return True
        now = time.time() if now is None else now
        return (
            self.oldest is not None
            and now - self.oldest >= settings.SPLITLAB_EXPOSURE_FLUSH_SECONDS
        )

    def keep_only(self, variants_of: dict[int, set[int]], holdout_ids: set[int]) -> None:
        """Drop pending rows of experiments, variants or holdouts that no longer exist (after
        a configuration reload), so a flush never writes rows the database must refuse."""
        with self.lock:
            self._drain()
            self.pending = {
                key: value
                for key, value in self.pending.items()
                if value[0] in variants_of.get(key[0], ())
            }
            self.pending_holdout = {
                key: value for key, value in self.pending_holdout.items() if key[0] in holdout_ids
            }
            self.rows = len(self.pending) + len(self.pending_holdout)
            if not self.rows:
                self.oldest = None

    def forget(self) -> None:
        """Drop the memory of written keys (after a configuration reload; ids may be reused)."""
        self.seen = set()

    def clear(self) -> None:
        """Drop everything, pending rows included (tests only)."""
        with self.lock:
            self.pending, self.pending_holdout, self.seen, self.oldest = {}, {}, set(), None
            self.journal, self.journal_holdout, self.rows = [], [], 0

    def flush(self) -> int:
        """Write the pending rows (insert-if-absent); returns how many rows were written.

        The buffer is swapped out under the lock and written outside it, so other threads
        keep adding while the database works.
        """
        with self.lock:
            self._drain()
            pending, pending_holdout = self.pending, self.pending_holdout
            if not pending and not pending_holdout:
                return 0
            self.pending, self.pending_holdout, self.oldest, self.rows = {}, {}, None, 0
        count = len(pending) + len(pending_holdout)
        try:
            try:
                _write(pending, pending_holdout)
            except IntegrityError:
                # Rows of experiments or variants deleted meanwhile: drop those, keep the rest.
                pending, pending_holdout = _without_orphans(pending, pending_holdout)
                logger.warning(
                    "exposure flush: dropped %d rows of deleted experiments",
                    count - len(pending) - len(pending_holdout),
                )
                count = len(pending) + len(pending_holdout)
                _write(pending, pending_holdout)
        except IntegrityError:
            logger.exception("exposure flush dropped %d rows", count)
            return 0
        except DatabaseError:
            logger.exception("exposure flush failed; keeping %d rows for the next attempt", count)
            with self.lock:
                self._requeue(pending, pending_holdout)
            return 0
        with self.lock:
            self._remember(pending.keys(), pending_holdout.keys())
        return count

    def _requeue(self, pending: dict, pending_holdout: dict) -> None:
        limit = settings.SPLITLAB_EXPOSURE_BUFFER_SIZE * RETRY_LIMIT_FACTOR
        if len(pending) + len(pending_holdout) > limit:
            logger.error("exposure buffer over %d rows while the database fails; dropping", limit)
            return
        self._drain()
        pending.update(self.pending)
        pending_holdout.update(self.pending_holdout)
        self.pending, self.pending_holdout = pending, pending_holdout
        self.rows = len(pending) + len(pending_holdout)
        self.oldest = time.time()

    def _remember(self, *key_sets: Iterable) -> None:
        if len(self.seen) > SEEN_LIMIT:
            self.seen = set()
        for keys in key_sets:
            self.seen.update(keys)


def _without_orphans(pending: dict, pending_holdout: dict) -> tuple[dict, dict]:
    """The rows whose experiment, variant and holdout still exist."""
    experiments = set(Experiment.objects.values_list("pk", flat=True))
    variants = set(Variant.objects.values_list("pk", flat=True))
    holdouts = set(Holdout.objects.values_list("pk", flat=True))
    return (
        {k: v for k, v in pending.items() if k[0] in experiments and v[0] in variants},
        {k: v for k, v in pending_holdout.items() if k[0] in holdouts},
    )


EXPOSURE_COLUMNS = ("experiment_id", "phase", "variant_id", "user_id", "first_exposed_at")
HOLDOUT_COLUMNS = ("holdout_id", "user_id", "in_holdout", "first_seen_at")


def _write(pending: dict, pending_holdout: dict) -> None:
    """Insert-if-absent both kinds of rows in one transaction, sorted by key so that two
    processes writing overlapping rows lock them in the same order (no deadlock). Timestamps
    travel as epoch seconds."""
    from django.db import connection, transaction

    exposures = [
        (experiment_id, phase, variant_id, user_id, at)
        for (experiment_id, phase, user_id), (variant_id, at) in sorted(pending.items())
    ]
    holdouts = [
        (holdout_id, user_id, in_holdout, at)
        for (holdout_id, user_id), (in_holdout, at) in sorted(pending_holdout.items())
    ]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _write_postgresql(connection, exposures, holdouts)
        else:
            _write_portable(connection, exposures, holdouts)


def _write_postgresql(connection, exposures: list, holdouts: list) -> None:
    """One ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`` per table, with
    the arrays bound in binary on a server-side-binding cursor: Django's client-side binding
    would quote thousands of array elements into the SQL text in Python."""
    import psycopg

    from assignment.models import Exposure, HoldoutExposure

    connection.ensure_connection()
    # wrap_database_errors: psycopg's errors become Django's (IntegrityError, ...).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # Check foreign keys at each statement, not at commit, so a row of an experiment
        # deleted meanwhile fails here, inside this flush's own savepoint.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if exposures:
            e, p, v, u, t = (list(column) for column in zip(*exposures, strict=True))
            cursor.execute(
                f"INSERT INTO {Exposure._meta.db_table} ({', '.join(EXPOSURE_COLUMNS)}) "
                "SELECT e, p, v, u, to_timestamp(t) FROM unnest("
                "%b::bigint[], %b::integer[], %b::bigint[], %b::text[], %b::float8[]"
                ") AS r(e, p, v, u, t) ON CONFLICT DO NOTHING",
                (e, p, v, u, t),
            )
        if holdouts:
            h, u, i, t = (list(column) for column in zip(*holdouts, strict=True))
            cursor.execute(
                f"INSERT INTO {HoldoutExposure._meta.db_table} ({', '.join(HOLDOUT_COLUMNS)}) "
                "SELECT h, u, i, to_timestamp(t) FROM unnest("
                "%b::bigint[], %b::text[], %b::boolean[], %b::float8[]"
                ") AS r(h, u, i, t) ON CONFLICT DO NOTHING",
                (h, u, i, t),
            )
        # Back to Django's default (its foreign keys are INITIALLY DEFERRED) for whatever
        # else an enclosing transaction does.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _write_portable(connection, exposures: list, holdouts: list) -> None:
    """SQLite: ``INSERT OR IGNORE`` with ``executemany``; any other backend: the ORM's
    ``bulk_create(ignore_conflicts=True)``."""
    from assignment.models import Exposure, HoldoutExposure

    adapt = connection.ops.adapt_datetimefield_value

    def stamped(rows: list) -> list:
        return [(*row[:-1], adapt(datetime.fromtimestamp(row[-1], tz=UTC))) for row in rows]

    tables = (
        (Exposure, EXPOSURE_COLUMNS, stamped(exposures)),
        (HoldoutExposure, HOLDOUT_COLUMNS, stamped(holdouts)),
    )
    for model, columns, rows in tables:
        if not rows:
            continue
        if connection.vendor == "sqlite":
            marks = ", ".join("%s" for _ in columns)
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT OR IGNORE INTO {model._meta.db_table} ({', '.join(columns)}) "
                    f"VALUES ({marks})",
                    rows,
                )
        else:
            model.objects.bulk_create(
                [model(**dict(zip(columns, row, strict=True))) for row in rows],
                ignore_conflicts=True,
                batch_size=1000,
            )


buffer = ExposureBuffer()


def flush() -> int:
    """Write this process's pending exposures now; returns the number of rows attempted."""
    return buffer.flush()


def flush_if_due(**_: object) -> None:
    """``request_finished`` receiver: flush after the response when size or age says so."""
    if buffer.is_due():
        buffer.flush()


def _flush_at_exit() -> None:
    try:
        buffer.flush()
    except Exception:  # the interpreter is going away; say what was lost
        logger.exception("exposure flush at exit failed (%d rows)", len(buffer))


atexit.register(_flush_at_exit)
