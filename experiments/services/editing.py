"""Saving an experiment edited as a whole (the admin's change form, the workspace's edit form):
its hash seed, one audit entry, and a new phase when a running experiment's allocation changed.

:func:`do_save_experiment` is the one write path of both forms; the admin validates in its
form, the workspace through :func:`do_edit_experiment`, which applies the API's rules
(:mod:`experiments.services.update`) before calling it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from experiments.models import Experiment, Variant
from experiments.services.base import (
    ACTIVE_STATUSES,
    ExperimentError,
    Status,
    draw_seed,
    record_audit,
)
from experiments.services.checks import (
    _check_overrides,
    _check_targeting,
    check_experiment_allocation,
    check_hash_version,
    check_interleaving,
    check_variants,
)
from experiments.services.lifecycle import _locked, allocation_of, do_start_new_phase
from experiments.services.update import _check_changes, _plain


@dataclass(frozen=True)
class ExperimentEdit:
    """What :func:`do_save_experiment` did: the phase it opened (None: none) and whether that
    phase drew a new seed."""

    experiment: Experiment
    new_phase: int | None = None
    reseeded: bool = False


@transaction.atomic
def do_save_experiment(
    experiment: Experiment,
    actor: Any,
    *,
    changes: Mapping[str, Any],
    write: Callable[[Experiment], Mapping[str, Any]],
    reason: str = "allocation changed in the admin",
) -> ExperimentEdit:
    """Save ``experiment`` as edited; a new one when it has no primary key yet.

    Draws the hash seed when there is none, calls ``write(experiment)`` to store the row and
    its related rows (variants, metrics), which returns the changes among the related rows,
    and records one audit entry (``create`` or ``change``) with ``changes`` and those. When a
    running or paused experiment's allocation (seed, version, coverage, layer range, weights)
    differs from the stored one, opens the next phase (:func:`do_start_new_phase`, which locks
    the experiment row); users are re-randomised unless the edit set the seed itself.
    """
    created = experiment.pk is None
    before = None
    if not created:
        before = allocation_of(Experiment.objects.select_related("layer").get(pk=experiment.pk))
    if not experiment.hash_seed:
        experiment.hash_seed = draw_seed(experiment.key)
    related = write(experiment)
    record_audit(
        actor,
        "create" if created else "change",
        experiment=experiment,
        changes={**changes, **related},
    )
    if before is None or experiment.status not in (Status.RUNNING, Status.PAUSED):
        return ExperimentEdit(experiment)
    experiment.refresh_from_db()
    after = allocation_of(experiment)
    if after == before:
        return ExperimentEdit(experiment)
    reseed = after["seed"] == before["seed"]
    updated = do_start_new_phase(
        experiment,
        actor,
        reason=reason,
        previous_allocation=before,
        reseed=reseed,
    )
    return ExperimentEdit(updated, new_phase=updated.current_phase, reseeded=reseed)


# --- the workspace's edit form -----------------------------------------------------------------

_ALLOCATION_FIELDS = ("coverage", "hash_version", "layer_start", "layer_end")


def allocation_changes(
    experiment: Experiment, fields: Mapping[str, Any], weights: Mapping[str, float]
) -> dict[str, list[Any]]:
    """What saving ``fields`` and variant ``weights`` (key -> weight) would change in the
    allocation of a running or paused experiment, as ``{name: [before, after]}``: non-empty
    means the save opens the next phase with a new seed. Empty for other statuses. No write."""
    if experiment.status not in (Status.RUNNING, Status.PAUSED):
        return {}
    before = allocation_of(experiment)
    after = {**before, **{n: fields[n] for n in _ALLOCATION_FIELDS if n in fields}}
    if "layer" in fields:
        after["layer"] = fields["layer"].name if fields["layer"] else None
    if fields.get("hash_seed"):
        after["seed"] = fields["hash_seed"]
    after["weights"] = {key: weights.get(key, w) for key, w in before["weights"].items()}
    return {name: [before[name], after[name]] for name in before if before[name] != after[name]}


@transaction.atomic
def do_edit_experiment(
    experiment: Experiment,
    actor: Any,
    *,
    fields: Mapping[str, Any],
    variants: Sequence[Mapping[str, Any]],
    guardrail_metrics: Iterable[Any] | None = None,
    secondary_metrics: Iterable[Any] | None = None,
) -> ExperimentEdit:
    """Save an experiment edited as a whole: ``fields`` (Experiment fields, those of
    ``update.EDITABLE_FIELDS``), every variant in order (mappings with ``key``, ``weight``,
    ``recommender_config``; the first is the control) and the metric sets (None: unchanged).

    The rules are the API's (:func:`update._check_changes`: key, kind and minimum runtime
    fixed once started, no variant added or removed once started, allocation fixed once
    stopped) and creation's (variants, interleaving, allocation, targeting, QA overrides).
    A draft's variants are replaced by key (added, changed, removed). Writes through
    :func:`do_save_experiment`: one ``change`` audit entry, and a new, re-seeded phase when a
    running or paused experiment's allocation changed (see :func:`allocation_changes`).
    Locks the experiment row. Raises :class:`ExperimentError` naming the field.
    """
    experiment = _locked(experiment)
    variants = [{**v, "is_control": i == 0} for i, v in enumerate(variants)]
    # A whole form carries every field: only those it changes are checked against the rules
    # of what may change (a stopped experiment's unchanged coverage is no change).
    changed = {n: v for n, v in fields.items() if _plain(getattr(experiment, n)) != _plain(v)}
    _check_changes(experiment, changed, {v["key"]: v.get("weight") for v in variants})
    check_variants(variants)
    kind = changed.get("kind", experiment.kind)
    check_interleaving(kind, changed.get("interleaving_aa", experiment.interleaving_aa), variants)
    changes = {n: [_plain(getattr(experiment, n)), _plain(v)] for n, v in changed.items()}
    for name, value in changed.items():
        setattr(experiment, name, value)
    if experiment.status in ACTIVE_STATUSES:
        check_experiment_allocation(experiment)
    if experiment.status in (Status.RUNNING, Status.PAUSED):
        check_hash_version(experiment)
    _check_targeting(experiment.targeting)
    try:
        experiment.full_clean(exclude=["owner"])
    except ValidationError as error:
        raise ExperimentError(error.message_dict) from None

    def write(stored: Experiment) -> dict[str, Any]:
        stored.save()
        related = _write_variants(stored, variants)
        for name, chosen in (("guardrail_metrics", guardrail_metrics),
                             ("secondary_metrics", secondary_metrics)):  # fmt: skip
            if chosen is not None:
                related.update(_write_metrics(stored, name, list(chosen)))
        _check_overrides(stored)
        return related

    return do_save_experiment(
        experiment,
        actor,
        changes=changes,
        write=write,
        reason="allocation changed in the workspace",
    )


def _write_variants(experiment: Experiment, specs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Store ``specs`` over the experiment's variants, matched by key; the audit changes."""
    existing = {v.key: v for v in experiment.variants.all()}
    changes: dict[str, Any] = {}
    for position, spec in enumerate(specs):
        values = {
            "weight": spec.get("weight", 1.0),
            "recommender_config": spec.get("recommender_config"),
            "is_control": spec["is_control"],
            "position": position,
        }
        variant = existing.pop(spec["key"], None)
        if variant is None:
            Variant.objects.create(
                experiment=experiment, key=spec["key"], name=spec["key"], **values
            )
            changes[f"variant {spec['key']}"] = ["(new)", {"weight": values["weight"]}]
            continue
        changed = {n: v for n, v in values.items() if _plain(getattr(variant, n)) != _plain(v)}
        if changed:
            for name, value in changed.items():
                setattr(variant, name, value)
            variant.save()
            changes[f"variant {variant.key}"] = {n: _plain(v) for n, v in changed.items()}
    for variant in existing.values():  # a draft's: removals once started were refused
        variant.delete()
        changes[f"variant {variant.key}"] = ["deleted", None]
    return changes


def _write_metrics(experiment: Experiment, name: str, chosen: list[Any]) -> dict[str, Any]:
    relation = getattr(experiment, name)
    before = sorted(m.key for m in relation.all())
    after = sorted(m.key for m in chosen)
    if before == after:
        return {}
    relation.set(chosen)
    return {name: [before, after]}
