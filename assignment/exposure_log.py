"""Exposure logging without a database write on the hot path.

Each process buffers first exposures (experiment, phase, user) and holdout evaluations
(holdout, user) in a :class:`writebehind.buffer.WriteBehindBuffer` (journaled: durable before
the response, replayed after a crash; see :mod:`writebehind.journal`). The request path only
appends one record per request; deduplication against pending and already written rows
happens at flush time, after the response. A flush happens

* once the buffer holds ``SPLITLAB_EXPOSURE_BUFFER_SIZE`` rows or its oldest row is
  ``SPLITLAB_EXPOSURE_FLUSH_SECONDS`` old: by the process's flusher thread, so no request
  waits for it (``SPLITLAB_BACKGROUND_THREADS``, the default), else after a response has been
  sent (Django's ``request_finished``), in the thread of the request that ended;
* at process exit, and by the flusher thread for the journals of dead processes;
* on demand: :func:`flush` (tests, scripts).

The write keeps the earliest time per key (:func:`writebehind.bulk.upsert_earliest`): two
processes that saw the same new user store the earlier of their times whatever the order of
their commits, and a row whose time moved earlier takes a new id so that the rollup rebuilds
that user. A failed flush keeps the records for the next attempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError

from experiments.models import Experiment, Holdout, Variant
from writebehind import bulk
from writebehind.buffer import WriteBehindBuffer, flush_due_after_response

__all__ = ["ExposureBuffer", "buffer", "flush", "flush_if_due"]

logger = logging.getLogger(__name__)

ExposureKey = tuple[int, int, str]  # experiment id, phase, user id
HoldoutKey = tuple[int, str]  # holdout id, user id
Segments = dict[str, str] | None  # the experiment's segment attribute values, if any
Pending = dict[ExposureKey, tuple[int, float, Segments]]  # -> variant id, epoch s, segments
PendingHoldout = dict[HoldoutKey, tuple[bool, float]]  # -> in holdout, epoch seconds
SEEN_LIMIT = 200_000


def _flushed_in_thread() -> bool:
    return bool(settings.SPLITLAB_BACKGROUND_THREADS)


class ExposureBuffer:
    """Pending first exposures of this process, with a bounded memory of written keys.

    Records (JSON lists, as journaled): ``["u", user, at, [[experiment, phase, variant]...]]``
    (one user), ``["m", experiment, phase, at, [[user, variant]...]]`` (a batch),
    ``["h", holdout, user, in_holdout, at]`` and ``["hm", holdout, at, [[user, in]...]]``;
    ``at`` in epoch seconds. Rows ``["x", experiment, phase, variant, user, at]`` are what
    :meth:`keep_only` leaves. An exposure of an experiment with segment attributes carries
    their values as one more element (``[experiment, phase, variant, {"device": "ios"}]``,
    ``[user, variant, {...}]``, ``["x", ..., at, {...}]``); records without it, journaled
    before segments existed too, read as exposures without segment values.
    """

    def __init__(self) -> None:
        self.seen: set[ExposureKey | HoldoutKey] = set()
        self.buffer = WriteBehindBuffer(
            "exposures",
            self._write_records,
            max_rows=lambda: settings.SPLITLAB_EXPOSURE_BUFFER_SIZE,
            max_age_seconds=lambda: settings.SPLITLAB_EXPOSURE_FLUSH_SECONDS,
            journaled=True,
            in_thread=_flushed_in_thread,
            replay_write=self._write_replayed,
        )

    def __len__(self) -> int:
        """Distinct rows waiting to be written (not known written by this process)."""
        pending, pending_holdout = self._expand(self.buffer.pending())
        return len(pending.keys() - self.seen) + len(pending_holdout.keys() - self.seen)

    @property
    def rows(self) -> int:
        """Records waiting (duplicates included): cheap, for a quick emptiness check."""
        return len(self.buffer.records)

    def add_user(self, user_id: str, exposures: list[tuple], at: float) -> None:
        """Record one user's first exposures ``(experiment id, phase, variant id[, segment
        values])``."""
        if exposures:
            self.buffer.add([["u", user_id, at, exposures]])

    def add(self, experiment_id: int, phase: int, user_id: str, variant_id: int, at: float) -> None:
        """Record one first exposure."""
        self.add_user(user_id, [(experiment_id, phase, variant_id)], at)

    def add_holdout(self, holdout_id: int, user_id: str, in_holdout: bool, at: float) -> None:
        """Record that ``user_id`` was evaluated against the holdout."""
        self.buffer.add([["h", holdout_id, user_id, in_holdout, at]])

    def add_many(self, experiment_id: int, phase: int, rows: Iterable[tuple], at: float) -> None:
        """Record many (user id, variant id[, segment values]) first exposures of one
        experiment and phase."""
        rows = [list(row) for row in rows]
        if rows:
            self.buffer.add([["m", experiment_id, phase, at, rows]])

    def add_holdout_many(
        self, holdout_id: int, rows: Iterable[tuple[str, bool]], at: float
    ) -> None:
        """Record many (user id, in holdout) evaluations against one holdout."""
        rows = [list(row) for row in rows]
        if rows:
            self.buffer.add([["hm", holdout_id, at, rows]])

    def is_due(self) -> bool:
        return self.buffer.is_due()

    @staticmethod
    def _expand(records: list[Any]) -> tuple[Pending, PendingHoldout]:
        """Rows by key, each at its earliest time."""
        pending: Pending = {}
        pending_holdout: PendingHoldout = {}

        def exposure(key: ExposureKey, variant_id: int, at: float, *segments: Segments) -> None:
            if key not in pending or at < pending[key][1]:
                pending[key] = (variant_id, at, segments[0] if segments else None)

        def holdout(key: HoldoutKey, in_holdout: bool, at: float) -> None:
            if key not in pending_holdout or at < pending_holdout[key][1]:
                pending_holdout[key] = (in_holdout, at)

        for record in records:
            kind = record[0]
            if kind == "u":
                _, user_id, at, exposures = record
                for experiment_id, phase, variant_id, *segments in exposures:
                    exposure((experiment_id, phase, user_id), variant_id, at, *segments)
            elif kind == "x":
                _, experiment_id, phase, variant_id, user_id, at, *segments = record
                exposure((experiment_id, phase, user_id), variant_id, at, *segments)
            elif kind == "m":
                _, experiment_id, phase, at, rows = record
                for user_id, variant_id, *segments in rows:
                    exposure((experiment_id, phase, user_id), variant_id, at, *segments)
            elif kind == "h":
                _, holdout_id, user_id, in_holdout, at = record
                holdout((holdout_id, user_id), in_holdout, at)
            elif kind == "hm":
                _, holdout_id, at, rows = record
                for user_id, in_holdout in rows:
                    holdout((holdout_id, user_id), in_holdout, at)
        return pending, pending_holdout

    def keep_only(self, variants_of: dict[int, set[int]], holdout_ids: set[int]) -> None:
        """Drop pending rows of experiments, variants or holdouts that no longer exist (after
        a configuration reload), so a flush never writes rows the database must refuse."""
        with self.buffer.lock:
            pending, pending_holdout = self._expand(self.buffer.records)
            self.buffer.records = [
                ["x", e, p, variant_id, u, at, *([segments] if segments else [])]
                for (e, p, u), (variant_id, at, segments) in pending.items()
                if variant_id in variants_of.get(e, ())
            ] + [
                ["h", h, u, in_holdout, at]
                for (h, u), (in_holdout, at) in pending_holdout.items()
                if h in holdout_ids
            ]

    def forget(self) -> None:
        """Drop the memory of written keys (after a configuration reload; ids may be reused)."""
        self.seen = set()

    def clear(self) -> None:
        """Drop everything, pending rows and journal included (tests only)."""
        self.buffer.discard()
        self.seen = set()

    def flush(self) -> int:
        """Write the pending rows (earliest time per key); returns how many were written."""
        return self.buffer.flush()

    def _write_replayed(self, records: list[Any]) -> int:
        """The replay's writer: a dead process's rows, each compared with the stored time
        (this process's memory of written keys says nothing about their times)."""
        return _write_rows(*self._expand(records))

    def _write_records(self, records: list[Any]) -> int:
        """The buffer's writer: rows not yet known written, orphans dropped; raises
        ``DatabaseError`` (not ``IntegrityError``) for a retry."""
        pending, pending_holdout = self._expand(records)
        seen = self.seen
        pending = {k: v for k, v in pending.items() if k not in seen}
        pending_holdout = {k: v for k, v in pending_holdout.items() if k not in seen}
        count = _write_rows(pending, pending_holdout)
        if len(seen) > SEEN_LIMIT:
            self.seen = seen = set()
        seen.update(pending.keys())
        seen.update(pending_holdout.keys())
        return count


def _write_rows(pending: Pending, pending_holdout: PendingHoldout) -> int:
    """Write rows, dropping those of deleted experiments; returns the rows attempted."""
    count = len(pending) + len(pending_holdout)
    if not count:
        return 0
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
    return count


def _without_orphans(pending: dict, pending_holdout: dict) -> tuple[dict, dict]:
    """The rows whose experiment, variant and holdout still exist."""
    experiments = set(Experiment.objects.values_list("pk", flat=True))
    variants = set(Variant.objects.values_list("pk", flat=True))
    holdouts = set(Holdout.objects.values_list("pk", flat=True))
    return (
        {k: v for k, v in pending.items() if k[0] in experiments and v[0] in variants},
        {k: v for k, v in pending_holdout.items() if k[0] in holdouts},
    )


EXPOSURES = bulk.Table(
    "assignment_exposure",
    ("experiment_id", "phase", "user_id", "variant_id", "segments", "first_exposed_at"),
    ("bigint", "integer", "text", "bigint", "jsonb", "timestamptz"),
    key=("experiment_id", "phase", "user_id"),
)
HOLDOUT_EXPOSURES = bulk.Table(
    "assignment_holdoutexposure",
    ("holdout_id", "user_id", "in_holdout", "first_seen_at"),
    ("bigint", "text", "boolean", "timestamptz"),
    key=("holdout_id", "user_id"),
)


def _write(pending: Pending, pending_holdout: PendingHoldout) -> None:
    """Store both kinds of rows in one transaction, each key at its earliest time, sorted
    by key so that two processes writing overlapping rows lock them in the same order (no
    deadlock)."""
    from django.db import transaction

    def stamp(at: float) -> datetime:
        return datetime.fromtimestamp(at, tz=UTC)

    exposures = [
        (experiment_id, phase, user_id, variant_id, json.dumps(segments or {}), stamp(at))
        for (experiment_id, phase, user_id), (variant_id, at, segments) in sorted(pending.items())
    ]
    holdouts = [
        (holdout_id, user_id, in_holdout, stamp(at))
        for (holdout_id, user_id), (in_holdout, at) in sorted(pending_holdout.items())
    ]
    with transaction.atomic():
        bulk.upsert_earliest(EXPOSURES, exposures)
        bulk.upsert_earliest(HOLDOUT_EXPOSURES, holdouts)


buffer = ExposureBuffer()


def flush() -> int:
    """Write this process's pending exposures now; returns the number of rows attempted."""
    return buffer.flush()


def flush_if_due(**_: object) -> None:
    """``request_finished`` receiver: flush after the response when size or age says so."""
    flush_due_after_response([buffer.buffer])


def _flush_at_exit() -> None:
    """What the exit hook of :mod:`writebehind.buffer` runs for this buffer."""
    buffer.flush()
