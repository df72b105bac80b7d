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


def check_experiment_allocation(experiment: Experiment) -> None:
    """:func:`check_allocation` of ``experiment`` as it stands (saved or edited in memory),
    against every other experiment."""
    check_allocation(
        experiment.coverage,
        experiment.layer,
        experiment.layer_start,
        experiment.layer_end,
        exclude_experiment_id=experiment.pk,
    )


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


# --- interleaving ----------------------------------------------------------------------------

INTERLEAVING_MAX_VARIANTS = 4  # team draft merges 2 to 4 rankers (analytics.interleaving)


def check_interleaving(
    kind: str, interleaving_aa: bool, variants: Sequence[Mapping[str, Any]]
) -> None:
    """An interleaving experiment has 2 to 4 variants, each bound to a recommender
    configuration, all different unless ``interleaving_aa`` (an A/A check of the method: the
    same configuration on every team). ``variants``: mappings with ``key`` and
    ``recommender_config`` (an id, an object, or None). A/B experiments pass unchecked; an
    A/A flag on an A/B experiment is refused (it would mean nothing)."""
    if kind not in (Experiment.Kind.AB, Experiment.Kind.INTERLEAVING):
        raise ExperimentError({"kind": f"kind must be 'ab' or 'interleaving', got {kind!r}"})
    if kind != Experiment.Kind.INTERLEAVING:
        if interleaving_aa:
            raise ExperimentError(
                {"interleaving_aa": "only an interleaving experiment can be an interleaving A/A"}
            )
        return
    if not 2 <= len(variants) <= INTERLEAVING_MAX_VARIANTS:
        raise ExperimentError(
            {
                "variants": f"an interleaving experiment needs 2 to "
                f"{INTERLEAVING_MAX_VARIANTS} variants, got {len(variants)}"
            }
        )
    configs: dict[Any, str] = {}
    for variant in variants:
        if variant["key"] == "interleaved":
            raise ExperimentError(
                {"variants": "'interleaved' names the merged list; choose another variant key"}
            )
        config = variant.get("recommender_config")
        config_id = getattr(config, "pk", config)
        if config_id is None:
            raise ExperimentError(
                {
                    "recommender_config": f"variant {variant['key']!r}: an interleaving "
                    "experiment needs a recommender configuration on every variant"
                }
            )
        if config_id in configs and not interleaving_aa:
            raise ExperimentError(
                {
                    "recommender_config": f"variants {configs[config_id]!r} and "
                    f"{variant['key']!r} use the same recommender configuration; only an "
                    "interleaving A/A (interleaving_aa) may repeat one"
                }
            )
        configs.setdefault(config_id, variant["key"])


def check_interleaving_ready(experiment: Experiment) -> None:
    """At start: every variant's configuration of an interleaving experiment has an active
    version (the serving workers answer only from one)."""
    if experiment.kind != Experiment.Kind.INTERLEAVING:
        return
    variants = experiment.variants.order_by("position", "id")
    check_interleaving(
        experiment.kind,
        experiment.interleaving_aa,
        [
            {"key": v.key, "recommender_config": v.recommender_config_id}
            for v in variants.only("key", "recommender_config_id")
        ],
    )
    ready = set(
        variants.filter(recommender_config__versions__status="active").values_list("key", flat=True)
    )
    for key, config_name in variants.values_list("key", "recommender_config__name"):
        if key not in ready:
            raise ExperimentError(
                {
                    "recommender_config": f"variant {key!r}: recommender configuration "
                    f"{config_name!r} has no active version; train and promote one before "
                    "starting the interleaving experiment"
                }
            )
