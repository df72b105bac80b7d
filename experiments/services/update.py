"""Editing an experiment outside the admin (the management API), with the admin's rules.

The admin form enforces these rules in its ``clean``; the API calls :func:`do_update_experiment`
with the same checks and messages: the key, the kind (A/B or interleaving) and the
interleaving A/A flag are fixed once started; variants cannot be added or
removed once started; allocation (coverage, layer range, weights, seed) is checked against the
other experiments of the layer; and a change of allocation while running or paused starts a
new phase (re-seeded unless the seed itself was changed), exactly as a save in the admin does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from experiments.models import Experiment
from experiments.services.base import ExperimentError, Status, bump_config_version, record_audit
from experiments.services.checks import (
    _check_overrides,
    _check_targeting,
    check_experiment_allocation,
    check_hash_version,
    check_interleaving,
    check_variants,
)
from experiments.services.lifecycle import _locked, allocation_of, do_start_new_phase

__all__ = ["EDITABLE_FIELDS", "do_update_experiment"]

EDITABLE_FIELDS = frozenset(
    {
        "key",
        "name",
        "kind",
        "interleaving_aa",
        "hypothesis",
        "hash_seed",
        "hash_version",
        "coverage",
        "layer",
        "layer_start",
        "layer_end",
        "targeting",
        "qa_overrides",
        "segment_attributes",
        "min_runtime_days",
        "planned_sample_size",
        "daily_traffic",
        "baseline_rate",
        "mde_relative",
        "alpha",
        "power",
        "surface",
        "sequential_testing",
        "primary_metric",
    }
)
_FIXED_ONCE_STOPPED = {"hash_seed", "hash_version", "coverage", "layer", "layer_start", "layer_end"}


def _plain(value: Any) -> Any:
    return getattr(value, "pk", value) if hasattr(value, "_meta") else value


def _check_changes(experiment: Experiment, fields: Mapping[str, Any], variants: Any) -> None:
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise ExperimentError({name: "not editable" for name in unknown})
    started = experiment.status != Status.DRAFT
    if started and "key" in fields and fields["key"] != experiment.key:
        raise ExperimentError({"key": "the key cannot change once the experiment has started"})
    for name in ("kind", "interleaving_aa", "segment_attributes"):
        if started and name in fields and fields[name] != getattr(experiment, name):
            raise ExperimentError(
                {name: f"the experiment's {name} cannot change once it has started"}
            )
    runtime = fields.get("min_runtime_days", experiment.min_runtime_days)
    if started and runtime != experiment.min_runtime_days:
        raise ExperimentError({"min_runtime_days": "the minimum runtime is committed once started"})
    if experiment.status in (Status.STOPPED, Status.CONCLUDED):
        fixed = sorted(name for name in _FIXED_ONCE_STOPPED & set(fields))
        if fixed:
            raise ExperimentError(
                {name: f"cannot change: the experiment is {experiment.status}" for name in fixed}
            )
    if variants is not None and started:
        current = set(experiment.variants.values_list("key", flat=True))
        if set(variants) != current:
            raise ExperimentError(
                {
                    "variants": "variants cannot be added or removed once the experiment has "
                    "started; stop it and create a new experiment"
                }
            )


@transaction.atomic
def do_update_experiment(
    experiment: Experiment,
    actor: Any,
    *,
    fields: Mapping[str, Any],
    variant_weights: Mapping[str, float] | None = None,
) -> Experiment:
    """Change ``fields`` and the weights of named variants; returns the stored experiment.

    ``variant_weights``: variant key -> weight; while the experiment has started it must name
    exactly the existing variants. Raises :class:`ExperimentError` naming each field. Records
    one ``change`` audit entry and, when the allocation of a running or paused experiment
    changed, starts a new phase (:func:`do_start_new_phase`). Locks the experiment row.
    """
    experiment = _locked(experiment)
    _check_changes(experiment, fields, variant_weights)
    before = allocation_of(experiment)
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        old = getattr(experiment, name)
        if _plain(old) != _plain(value):
            changes[name] = [_plain(old), _plain(value)]
            setattr(experiment, name, value)
    variants = list(experiment.variants.order_by("position", "id"))
    if variant_weights is not None:
        unknown = sorted(set(variant_weights) - {v.key for v in variants})
        if unknown:
            raise ExperimentError({"variants": f"unknown variant(s): {', '.join(unknown)}"})
        for variant in variants:
            weight = variant_weights.get(variant.key, variant.weight)
            if weight != variant.weight:
                changes[f"variant {variant.key}"] = {"weight": [variant.weight, weight]}
                variant.weight = weight
        check_variants(
            [{"key": v.key, "weight": v.weight, "is_control": v.is_control} for v in variants]
        )
    if experiment.status in (Status.DRAFT, Status.RUNNING, Status.PAUSED):
        check_experiment_allocation(experiment)
    if experiment.status in (Status.RUNNING, Status.PAUSED):
        check_hash_version(experiment)
    if "targeting" in fields:
        _check_targeting(experiment.targeting)
    if {"kind", "interleaving_aa"} & set(fields):
        check_interleaving(
            experiment.kind,
            experiment.interleaving_aa,
            [{"key": v.key, "recommender_config": v.recommender_config_id} for v in variants],
        )
    try:
        experiment.full_clean(exclude=["owner"])
    except ValidationError as error:
        raise ExperimentError(error.message_dict) from None
    experiment.save()
    for variant in variants:
        variant.save(update_fields=["weight"])
    _check_overrides(experiment)
    record_audit(actor, "change", experiment=experiment, changes=changes)
    bump_config_version()
    after = allocation_of(experiment)
    if experiment.status in (Status.RUNNING, Status.PAUSED) and after != before:
        do_start_new_phase(
            experiment,
            actor,
            reason="allocation changed through the API",
            previous_allocation=before,
            reseed=after["seed"] == before["seed"],
        )
    experiment.refresh_from_db()
    return experiment
