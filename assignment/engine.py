"""The assignment decision for users and experiments (pure: no Django).

For one user and one experiment the decisions are taken in this order, and every answer
carries the reason of the step that decided it:

1. experiment not running -> control experience, not in it (``not_running``);
2. QA override -> the forced variant (``override``; counted in, never logged as exposure);
3. permanent holdout -> control experience (``holdout``);
4. targeting conditions not met (``not_targeted``);
5. layer: the user's position ``hash("__" + layer_seed, user, 2)`` outside the experiment's
   ``[layer_start, layer_end)`` (``layer``);
6. coverage: ``hash(seed, user, version)`` outside every bucket range (``coverage``);
7. else the variant whose bucket range holds the hash (``assigned``).

Interleaving experiments (``CompiledExperiment.interleaving``) hash users the same way (the
steps above decide who is in), but a user assigned to one is shown every variant merged:
the answer's variant is ``INTERLEAVED`` (``"interleaved"``), its variant id and recommender
configuration the control's (what a consumer that does not interleave serves, and the row
the exposure is logged under). A QA override still forces one variant.

Holdout membership is ``hash(holdout_seed, user, 2) < share``: it depends on the holdout's seed
and the user only, so adding, re-weighting or stopping experiments never moves a user in or
out. Layer positions use hash v2 (GrowthBook's namespaces use v1, whose correlation across
similar seeds would couple layers); experiment buckets use the experiment's own version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assignment import hashing
from experiments.targeting import matches

__all__ = [
    "REASONS",
    "AssignmentResult",
    "CompiledExperiment",
    "CompiledHoldout",
    "INTERLEAVED",
    "assign_many",
    "assign_one",
    "holdout_many",
    "variant_key",
]

RUNNING = "running"
NOT_RUNNING, OVERRIDE, HOLDOUT, NOT_TARGETED, LAYER, COVERAGE, ASSIGNED = range(7)
REASONS = ("not_running", "override", "holdout", "not_targeted", "layer", "coverage", "assigned")
INTERLEAVED = "interleaved"


@dataclass(frozen=True, slots=True)
class CompiledHoldout:
    """The active holdout, ready for hashing (``seed_state = fnv1a32(seed)``)."""

    id: int
    seed: str
    share: float
    seed_state: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed_state", hashing.fnv1a32(self.seed))

    def contains(self, user_id: str) -> bool:
        """Whether ``user_id`` is held out: ``hash(seed, user_id, 2) < share``."""
        return self.share > 0 and hashing.hash_v2_with_prefix(self.seed_state, user_id) < self.share


@dataclass(frozen=True, slots=True)
class CompiledExperiment:
    """An experiment's current allocation, flattened for the hot path."""

    id: int
    key: str
    status: str
    phase: int
    seed: str
    hash_version: int
    coverage: float
    variant_keys: tuple[str, ...]
    variant_ids: tuple[int, ...]
    variant_weights: tuple[float, ...]
    recommender_config_ids: tuple[int | None, ...]
    control_index: int
    layer_id: int | None = None
    layer_seed: str | None = None
    layer_start: float = 0.0
    layer_end: float = 1.0
    targeting: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, int] = field(default_factory=dict)
    surface: str = ""
    started_at: float | None = None
    interleaving: bool = False
    segment_attributes: tuple[str, ...] = ()
    ranges: tuple[tuple[float, float], ...] = field(init=False)
    seed_state: int = field(init=False)
    layer_state: int | None = field(init=False)

    def __post_init__(self) -> None:
        total = sum(self.variant_weights)
        weights = [w / total for w in self.variant_weights] if total > 0 else None
        ranges = hashing.get_bucket_ranges(len(self.variant_keys), self.coverage, weights)
        object.__setattr__(self, "ranges", tuple(ranges))
        object.__setattr__(self, "seed_state", hashing.fnv1a32(self.seed))
        layer_state = None if self.layer_seed is None else hashing.fnv1a32("__" + self.layer_seed)
        object.__setattr__(self, "layer_state", layer_state)

    @property
    def is_running(self) -> bool:
        return self.status == RUNNING

    def bucket(self, user_id: str) -> float:
        """The user's hash under this experiment's seed and version, in [0, 1)."""
        if self.hash_version == 2:
            return hashing.hash_v2_with_prefix(self.seed_state, user_id)
        return hashing.hash(self.seed, user_id, self.hash_version)  # type: ignore[return-value]


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~1 us, a tenth of the hot path
class AssignmentResult:
    """One user's answer for one experiment; ``variant`` is what to serve (control if not in).

    ``in_experiment`` is True for hashed assignments and QA overrides; only the former are
    logged as exposures. Treat it as read-only.
    """

    experiment: str
    variant: str
    in_experiment: bool
    reason: str
    phase: int
    experiment_id: int
    variant_id: int
    recommender_config_id: int | None

    @property
    def log_exposure(self) -> bool:
        """Only hashed assignments count as exposures (overrides are QA traffic)."""
        return self.reason == "assigned"


def assign_one(
    experiments: Sequence[CompiledExperiment],
    user_id: str,
    attributes: Mapping[str, Any],
    held_out: bool,
) -> list[AssignmentResult]:
    """Assign ``user_id`` to each of ``experiments`` (results in the same order);
    ``held_out``: whether the user is in the permanent holdout (``CompiledHoldout.contains``).

    The steps follow the module docstring's order. This is the hot path (10 experiments in
    tens of microseconds), hence one flat loop: the user id is split into code units once,
    and a layer's position is hashed once for all its experiments.
    """
    results = []
    units = hashing.code_units(user_id)
    layer_positions: dict[int, float] = {}
    hash_v2 = hashing.hash_v2_units
    for experiment in experiments:
        index = experiment.control_index
        if experiment.status != RUNNING:
            reason = NOT_RUNNING
        elif (forced := experiment.overrides.get(user_id)) is not None:
            index, reason = forced, OVERRIDE
        elif held_out:
            reason = HOLDOUT
        elif experiment.targeting and not matches(experiment.targeting, attributes):
            reason = NOT_TARGETED
        else:
            reason = ASSIGNED
            layer_state = experiment.layer_state
            if layer_state is not None:
                position = layer_positions.get(layer_state)
                if position is None:
                    position = layer_positions[layer_state] = hash_v2(layer_state, units)
                if not experiment.layer_start <= position < experiment.layer_end:
                    reason = LAYER
            if reason == ASSIGNED:
                if experiment.hash_version == 2:
                    bucket = hash_v2(experiment.seed_state, units)
                else:
                    bucket = experiment.bucket(user_id)
                chosen = -1
                for i, (start, end) in enumerate(experiment.ranges):
                    if start <= bucket < end:
                        chosen = i
                        break
                if chosen < 0:
                    reason = COVERAGE
                elif not experiment.interleaving:
                    index = chosen
        results.append(
            AssignmentResult(
                experiment.key,
                INTERLEAVED
                if reason == ASSIGNED and experiment.interleaving
                else experiment.variant_keys[index],
                reason in (ASSIGNED, OVERRIDE),
                REASONS[reason],
                experiment.phase,
                experiment.id,
                experiment.variant_ids[index],
                experiment.recommender_config_ids[index],
            )
        )
    return results


def variant_key(experiment: CompiledExperiment, index: int, reason: int) -> str:
    """The variant key answered: ``INTERLEAVED`` for a user assigned to an interleaving
    experiment, else the key of variant ``index``."""
    if reason == ASSIGNED and experiment.interleaving:
        return INTERLEAVED
    return experiment.variant_keys[index]


def holdout_many(holdout: CompiledHoldout | None, user_ids: Sequence[str]) -> np.ndarray:
    """Boolean array: which of ``user_ids`` are in ``holdout`` (all False without one)."""
    if holdout is None or holdout.share <= 0:
        return np.zeros(len(user_ids), dtype=bool)
    return hashing.hash_many(holdout.seed, user_ids, 2) < holdout.share


def assign_many(
    experiment: CompiledExperiment,
    user_ids: Sequence[str],
    attributes: Sequence[Mapping[str, Any]] | None,
    held_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`assign_one` for one experiment: (variant indexes, reason codes).

    ``attributes`` is one mapping per user or None (no attributes: targeting then fails unless
    it is empty or made only of ``$ne``/``$nin`` conditions).
    """
    n = len(user_ids)
    variant = np.full(n, experiment.control_index, dtype=np.int64)
    reason = np.full(n, NOT_RUNNING, dtype=np.int8)
    if experiment.status != RUNNING:
        return variant, reason
    undecided = np.ones(n, dtype=bool)
    if experiment.overrides:
        for i, user_id in enumerate(user_ids):
            forced = experiment.overrides.get(user_id)
            if forced is not None:
                variant[i], reason[i], undecided[i] = forced, OVERRIDE, False
    step = undecided & held_out
    reason[step] = HOLDOUT
    undecided &= ~step
    if experiment.targeting:
        empty: Mapping[str, Any] = {}
        targeted = np.fromiter(
            (
                matches(experiment.targeting, attributes[i] if attributes is not None else empty)
                for i in range(n)
            ),
            dtype=bool,
            count=n,
        )
        step = undecided & ~targeted
        reason[step] = NOT_TARGETED
        undecided &= ~step
    if experiment.layer_seed is not None:
        position = hashing.hash_many("__" + experiment.layer_seed, user_ids, 2)
        inside = (position >= experiment.layer_start) & (position < experiment.layer_end)
        step = undecided & ~inside
        reason[step] = LAYER
        undecided &= ~step
    chosen = hashing.choose_variation_many(
        hashing.hash_many(experiment.seed, user_ids, experiment.hash_version), experiment.ranges
    )
    step = undecided & (chosen < 0)
    reason[step] = COVERAGE
    undecided &= ~step
    if not experiment.interleaving:  # interleaved users keep the control's index
        variant[undecided] = chosen[undecided]
    reason[undecided] = ASSIGNED
    return variant, reason
