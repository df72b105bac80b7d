"""Assigning users to experiments, in process (serving calls these) and for the API.

Both entry points read the cached configuration (:mod:`assignment.config_cache`; no query
per call) and buffer first exposures (:mod:`assignment.exposure_log`; no write per call).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assignment import engine, exposure_log
from assignment.config_cache import ConfigSnapshot, get_snapshot
from assignment.engine import REASONS, AssignmentResult, CompiledExperiment
from assignment.models import USER_ID_MAX_LENGTH
from experiments.segments import SegmentError, segment_values

__all__ = [
    "AssignmentResult",
    "BatchAssignment",
    "SegmentError",
    "UnknownExperimentError",
    "assign_user",
    "assign_users",
    "flush_exposures",
]


class UnknownExperimentError(LookupError):
    """One or more requested experiment keys do not exist (``keys`` lists them)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        super().__init__("unknown experiment key(s): " + ", ".join(self.keys))


def _check_user_id(user_id: Any) -> None:
    if not isinstance(user_id, str) or not user_id or len(user_id) > USER_ID_MAX_LENGTH:
        raise ValueError(f"user_id: must be a non-empty string of at most {USER_ID_MAX_LENGTH}")


def _select(
    snapshot: ConfigSnapshot, experiment_keys: Sequence[str] | None
) -> Sequence[CompiledExperiment]:
    if experiment_keys is None:
        return snapshot.running
    found = snapshot.experiments
    missing = [key for key in experiment_keys if key not in found]
    if missing:
        raise UnknownExperimentError(missing)
    return [found[key] for key in dict.fromkeys(experiment_keys)]


def assign_user(
    user_id: str,
    attributes: Mapping[str, Any] | None = None,
    experiment_keys: Sequence[str] | None = None,
    *,
    log_exposure: bool = True,
) -> list[AssignmentResult]:
    """Assign one user to ``experiment_keys`` (None: every running experiment).

    Returns one :class:`AssignmentResult` per experiment, in the order asked for (duplicates
    removed). ``variant`` is always what to serve: the control experience when the user is not
    in the experiment. First exposures (reason ``assigned``) and the holdout evaluation are
    buffered when ``log_exposure``, each exposure with the values of its experiment's segment
    attributes. Raises :class:`UnknownExperimentError` for unknown keys, ``ValueError`` for an
    invalid ``user_id`` and :class:`SegmentError` for a segment attribute's value out of bounds.
    """
    _check_user_id(user_id)
    snapshot = get_snapshot()
    experiments = _select(snapshot, experiment_keys)
    attributes = attributes or {}
    segments = _segments(experiments, attributes)
    holdout = snapshot.holdout
    held_out = holdout is not None and holdout.contains(user_id)
    results = engine.assign_one(experiments, user_id, attributes, held_out)
    if log_exposure and experiments:
        _log_one(snapshot, user_id, held_out, results, segments)
    return results


def _segments(
    experiments: Sequence[CompiledExperiment], attributes: Mapping[str, Any]
) -> dict[int, dict[str, str]]:
    """Experiment id -> the values of its segment attributes (only experiments with some)."""
    out = {}
    for experiment in experiments:
        if experiment.segment_attributes:
            values = segment_values(experiment.segment_attributes, attributes)
            if values:
                out[experiment.id] = values
    return out


def _log_one(
    snapshot: ConfigSnapshot,
    user_id: str,
    held_out: bool,
    results: Sequence[AssignmentResult],
    segments: Mapping[int, dict[str, str]],
) -> None:
    now = time.time()
    buffer = exposure_log.buffer
    exposures = [
        (r.experiment_id, r.phase, r.variant_id, *_some(segments.get(r.experiment_id)))
        for r in results
        if r.reason == "assigned"
    ]
    if exposures:
        buffer.add_user(user_id, exposures, now)
    holdout = snapshot.holdout
    # Every user evaluated against the holdout (in it or not) while an experiment runs.
    if holdout is not None and (exposures or any(r.reason != "not_running" for r in results)):
        buffer.add_holdout(holdout.id, user_id, held_out, now)


@dataclass(frozen=True)
class BatchAssignment:
    """Columnar answers for many users: per experiment, variant indexes and reason codes."""

    user_ids: Sequence[str]
    experiments: Sequence[CompiledExperiment]
    variant_index: list[np.ndarray]
    reason_code: list[np.ndarray]

    def results_for(self, position: int) -> list[AssignmentResult]:
        """The :class:`AssignmentResult` list of the user at ``position``."""
        out = []
        for experiment, variants, reasons in zip(
            self.experiments, self.variant_index, self.reason_code, strict=True
        ):
            index, reason = int(variants[position]), int(reasons[position])
            out.append(
                AssignmentResult(
                    experiment.key,
                    engine.variant_key(experiment, index, reason),
                    reason in (engine.ASSIGNED, engine.OVERRIDE),
                    REASONS[reason],
                    experiment.phase,
                    experiment.id,
                    experiment.variant_ids[index],
                    experiment.recommender_config_ids[index],
                )
            )
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Plain rows for the API: ``{user_id, assignments: [{experiment, variant, ...}]}``."""
        columns = []
        for experiment, variants, reasons in zip(
            self.experiments, self.variant_index, self.reason_code, strict=True
        ):
            columns.append(
                (
                    experiment.key,
                    experiment.phase,
                    [
                        engine.variant_key(experiment, i, r)
                        for i, r in zip(variants.tolist(), reasons.tolist(), strict=True)
                    ],
                    reasons.tolist(),
                )
            )
        in_codes = (engine.ASSIGNED, engine.OVERRIDE)
        return [
            {
                "user_id": user_id,
                "assignments": [
                    {
                        "experiment": key,
                        "variant": variant_keys[i],
                        "in_experiment": reason_codes[i] in in_codes,
                        "reason": REASONS[reason_codes[i]],
                        "phase": phase,
                    }
                    for key, phase, variant_keys, reason_codes in columns
                ],
            }
            for i, user_id in enumerate(self.user_ids)
        ]


def _some(segments: dict[str, str] | None) -> tuple[dict[str, str], ...]:
    """An exposure record's optional last element: segment values, only when there are some
    (records without them keep their old shape, in the journal too)."""
    return (segments,) if segments else ()


def assign_users(
    user_ids: Sequence[str],
    attributes: Sequence[Mapping[str, Any]] | None = None,
    experiment_keys: Sequence[str] | None = None,
    *,
    log_exposure: bool = True,
) -> BatchAssignment:
    """Assign many users at once with vectorised hashing (numpy); same answers as
    :func:`assign_user` user by user. ``attributes``: one mapping per user, or None; a segment
    value out of bounds raises :class:`SegmentError` naming ``users[i].attributes.<name>``."""
    for user_id in user_ids:
        _check_user_id(user_id)
    if attributes is not None and len(attributes) != len(user_ids):
        raise ValueError("attributes: need one mapping per user")
    snapshot = get_snapshot()
    experiments = _select(snapshot, experiment_keys)
    segments = _batch_segments(experiments, attributes)
    held_out = engine.holdout_many(snapshot.holdout, user_ids)
    variant_index, reason_code = [], []
    for experiment in experiments:
        variants, reasons = engine.assign_many(experiment, user_ids, attributes, held_out)
        variant_index.append(variants)
        reason_code.append(reasons)
    batch = BatchAssignment(user_ids, experiments, variant_index, reason_code)
    if log_exposure:
        _log_many(snapshot, batch, held_out, segments)
    return batch


def _batch_segments(
    experiments: Sequence[CompiledExperiment], attributes: Sequence[Mapping[str, Any]] | None
) -> dict[int, list[dict[str, str]]]:
    """Experiment id -> each user's segment values (only experiments with segment attributes)."""
    out: dict[int, list[dict[str, str]]] = {}
    for experiment in experiments:
        if not experiment.segment_attributes or attributes is None:
            continue
        values = []
        for position, user_attributes in enumerate(attributes):
            try:
                values.append(segment_values(experiment.segment_attributes, user_attributes))
            except SegmentError as error:
                raise SegmentError(f"users[{position}].{error.field}", str(error)) from None
        out[experiment.id] = values
    return out


def _log_many(
    snapshot: ConfigSnapshot,
    batch: BatchAssignment,
    held_out: np.ndarray,
    segments: Mapping[int, list[dict[str, str]]],
) -> None:
    now = time.time()
    buffer = exposure_log.buffer
    user_ids = batch.user_ids
    if snapshot.holdout is not None and any(e.is_running for e in batch.experiments):
        buffer.add_holdout_many(
            snapshot.holdout.id, zip(user_ids, held_out.tolist(), strict=True), now
        )
    for experiment, variants, reasons in zip(
        batch.experiments, batch.variant_index, batch.reason_code, strict=True
    ):
        positions = np.flatnonzero(reasons == engine.ASSIGNED)
        if len(positions) == 0:
            continue
        ids = experiment.variant_ids
        values = segments.get(experiment.id)
        buffer.add_many(
            experiment.id,
            experiment.phase,
            (
                (user_ids[p], ids[v], *_some(values[p] if values else None))
                for p, v in zip(positions.tolist(), variants[positions].tolist(), strict=True)
            ),
            now,
        )


def flush_exposures() -> int:
    """Write this process's buffered exposures now (tests, scripts); returns rows written."""
    return exposure_log.flush()
