"""Validation rules (``check_*``): each raises ``ExperimentError`` naming the field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from experiments.models import HOLDOUT_MAX_SHARE, Experiment, Layer
from experiments.services.base import ACTIVE_STATUSES, ExperimentError, Status
from experiments.targeting import TargetingError, validate_targeting

# --- checks ----------------------------------------------------------------------------------


def check_variants(variants: Sequence[Mapping[str, Any]]) -> None:
    """At least two variants, unique keys, positive weights, exactly one control."""
    if len(variants) < 2:
        raise ExperimentError({"variants": "an experiment needs at least two variants"})
    keys = [v["key"] for v in variants]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ExperimentError({"variants": f"variant keys must be unique: {duplicates}"})
    for variant in variants:
        weight = variant.get("weight", 1.0)
        if weight is None or not weight > 0:
            raise ExperimentError(
                {"variants": f"variant {variant['key']!r}: weight must be positive, got {weight}"}
            )
    controls = [v["key"] for v in variants if v.get("is_control")]
    if len(controls) != 1:
        raise ExperimentError(
            {"variants": f"exactly one variant must be the control (found {len(controls)})"}
        )


def check_layer_range(
    layer: Layer | None,
    layer_start: float,
    layer_end: float,
    *,
    exclude_experiment_id: int | None = None,
) -> None:
    """``0 <= start < end <= 1`` and no overlap with another active experiment of the layer."""
    if not 0.0 <= layer_start < layer_end <= 1.0:
        raise ExperimentError(
            {
                "layer_start": f"layer range must satisfy 0 <= start < end <= 1, got "
                f"[{layer_start}, {layer_end})"
            }
        )
    if layer is None:
        return
    others = Experiment.objects.filter(layer=layer, status__in=ACTIVE_STATUSES)
    if exclude_experiment_id is not None:
        others = others.exclude(pk=exclude_experiment_id)
    for other in others.only("key", "layer_start", "layer_end"):
        if layer_start < other.layer_end and other.layer_start < layer_end:
            raise ExperimentError(
                {
                    "layer_start": f"range [{layer_start}, {layer_end}) overlaps experiment "
                    f"{other.key!r} [{other.layer_start}, {other.layer_end}) "
                    f"in layer {layer.name!r}"
                }
            )


def check_allocation(
    coverage: float,
    layer: Layer | None,
    layer_start: float,
    layer_end: float,
    *,
    exclude_experiment_id: int | None = None,
) -> None:
    """Coverage in [0, 1] and a valid, non-overlapping layer range."""
    if coverage is None or not 0.0 <= coverage <= 1.0:
        raise ExperimentError({"coverage": f"coverage must be between 0 and 1, got {coverage}"})
    check_layer_range(layer, layer_start, layer_end, exclude_experiment_id=exclude_experiment_id)


def check_hash_version(experiment: Experiment) -> None:
    """Hash v1 only inside a layer whose other running experiments share it; v2 otherwise.

    v1 buckets of seeds that differ in their last characters are strongly correlated, so a
    v1 experiment may run beside others only when a shared layer keeps their users disjoint.
    The rule is checked in both directions (a v1 experiment already running blocks others
    outside its layer too).
    """
    if experiment.hash_version not in (1, 2):
        raise ExperimentError({"hash_version": "hash version must be 1 or 2"})
    running = Experiment.objects.filter(status=Status.RUNNING).exclude(pk=experiment.pk)
    if experiment.hash_version == 1:
        outside = (
            running
            if experiment.layer_id is None
            else running.exclude(layer_id=experiment.layer_id)
        )
        clash = outside.values_list("key", flat=True).first()
        if clash is not None:
            raise ExperimentError(
                {
                    "hash_version": f"hash v1 is correlated across experiments: it cannot run "
                    f"beside {clash!r} outside a shared layer; use v2"
                }
            )
    v1_outside = running.filter(hash_version=1)
    if experiment.layer_id is not None:
        v1_outside = v1_outside.exclude(layer_id=experiment.layer_id)
    clash = v1_outside.values_list("key", flat=True).first()
    if clash is not None:
        raise ExperimentError(
            {
                "hash_version": f"running experiment {clash!r} uses hash v1 outside this "
                f"experiment's layer; they cannot run side by side"
            }
        )


def check_holdout_share(share: float) -> None:
    if share is None or not 0.0 <= share <= HOLDOUT_MAX_SHARE:
        raise ExperimentError(
            {"share": f"holdout share must be between 0 and {HOLDOUT_MAX_SHARE}, got {share}"}
        )


def _check_status(experiment: Experiment, allowed: Iterable[str], action: str) -> None:
    if experiment.status not in allowed:
        raise ExperimentError(
            {
                "status": f"cannot {action} experiment {experiment.key!r}: it is "
                f"{experiment.status} (allowed from: {', '.join(allowed)})"
            }
        )


def _check_targeting(targeting: Any) -> None:
    try:
        validate_targeting(targeting)
    except TargetingError as error:
        raise ExperimentError({"targeting": str(error)}) from None


def _check_overrides(experiment: Experiment) -> None:
    overrides = experiment.qa_overrides
    if not isinstance(overrides, dict):
        raise ExperimentError({"qa_overrides": "expected an object of user id -> variant key"})
    keys = set(experiment.variants.values_list("key", flat=True))
    for user_id, variant_key in overrides.items():
        if variant_key not in keys:
            raise ExperimentError(
                {
                    "qa_overrides": f"user {user_id!r}: unknown variant {variant_key!r} "
                    f"(variants: {sorted(keys)})"
                }
            )
