"""Creating experiments, their lifecycle (start, pause, resume, stop, conclude) and phases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from experiments.models import Experiment, ExperimentPhase, Variant
from experiments.services.base import (
    ExperimentError,
    Status,
    bump_config_version,
    draw_seed,
    record_audit,
)
from experiments.services.checks import (
    _check_overrides,
    _check_status,
    _check_targeting,
    check_allocation,
    check_experiment_allocation,
    check_hash_version,
    check_interleaving,
    check_interleaving_ready,
    check_variants,
)

# --- allocation and phases -------------------------------------------------------------------


def allocation_of(experiment: Experiment) -> dict[str, Any]:
    """The fields that decide who gets which variant, as plain JSON values."""
    return {
        "seed": experiment.effective_seed,
        "hash_version": experiment.hash_version,
        "coverage": experiment.coverage,
        "layer": experiment.layer.name if experiment.layer_id else None,
        "layer_start": experiment.layer_start,
        "layer_end": experiment.layer_end,
        "weights": {v.key: v.weight for v in experiment.variants.order_by("position", "id")},
    }


def _open_phase(experiment: Experiment, number: int, now: datetime, reason: str) -> None:
    allocation = allocation_of(experiment)
    ExperimentPhase.objects.create(
        experiment=experiment,
        number=number,
        seed=allocation["seed"],
        coverage=allocation["coverage"],
        weights=allocation["weights"],
        layer_start=experiment.layer_start,
        layer_end=experiment.layer_end,
        started_at=now,
        reason=reason,
    )


def _close_phase(experiment: Experiment, now: datetime) -> None:
    ExperimentPhase.objects.filter(
        experiment=experiment, number=experiment.current_phase, ended_at__isnull=True
    ).update(ended_at=now)


def _locked(experiment: Experiment) -> Experiment:
    return (
        Experiment.objects.select_for_update(of=("self",))
        .select_related("layer")
        .get(pk=experiment.pk)
    )


@transaction.atomic
def do_start_new_phase(
    experiment: Experiment,
    actor: Any,
    *,
    reason: str,
    previous_allocation: Mapping[str, Any] | None = None,
    reseed: bool = True,
    now: datetime | None = None,
) -> Experiment:
    """Close the current phase and open the next one with the experiment's current allocation.

    A new seed is drawn unless ``reseed`` is False (the caller set one explicitly): users are
    re-randomised, so no one carries a variant's effect into the next phase. Exposures are
    per phase. Locks the experiment row (SELECT ... FOR UPDATE).
    """
    now = now or timezone.now()
    experiment = _locked(experiment)
    _check_status(experiment, (Status.RUNNING, Status.PAUSED), "change the allocation of")
    _close_phase(experiment, now)
    if reseed:
        experiment.hash_seed = draw_seed(experiment.key)
    experiment.current_phase += 1
    experiment.save(update_fields=["hash_seed", "current_phase", "updated_at"])
    _open_phase(experiment, experiment.current_phase, now, reason)
    record_audit(
        actor,
        "new_phase",
        experiment=experiment,
        changes={
            "phase": [experiment.current_phase - 1, experiment.current_phase],
            "reason": reason,
            "before": dict(previous_allocation or {}),
            "after": allocation_of(experiment),
        },
    )
    bump_config_version()
    return experiment


# --- creation ------------------------------------------------------------------------------


@transaction.atomic
def do_create_experiment(
    *,
    key: str,
    name: str,
    variants: Sequence[Mapping[str, Any]],
    actor: Any = None,
    guardrail_metrics: Iterable[Any] = (),
    secondary_metrics: Iterable[Any] = (),
    **fields: Any,
) -> Experiment:
    """Create a draft experiment with its variants; draws the hash seed unless one is given.

    ``variants``: mappings with ``key`` and optionally ``name``, ``weight`` (default 1),
    ``is_control``, ``recommender_config``. Other keyword arguments are Experiment fields.
    """
    check_variants(variants)
    check_interleaving(
        fields.get("kind", Experiment.Kind.AB), bool(fields.get("interleaving_aa")), variants
    )
    check_allocation(
        fields.get("coverage", 1.0),
        fields.get("layer"),
        fields.get("layer_start", 0.0),
        fields.get("layer_end", 1.0),
    )
    if "targeting" in fields:
        _check_targeting(fields["targeting"])
    fields.setdefault("hash_seed", draw_seed(key))
    experiment = Experiment(key=key, name=name, owner=fields.pop("owner", None), **fields)
    try:
        experiment.full_clean()
    except ValidationError as error:
        raise ExperimentError(error.message_dict) from None
    experiment.save()
    for position, spec in enumerate(variants):
        Variant.objects.create(
            experiment=experiment,
            key=spec["key"],
            name=spec.get("name", spec["key"]),
            weight=spec.get("weight", 1.0),
            is_control=bool(spec.get("is_control", False)),
            position=spec.get("position", position),
            recommender_config=spec.get("recommender_config"),
        )
    experiment.guardrail_metrics.set(guardrail_metrics)
    experiment.secondary_metrics.set(secondary_metrics)
    _check_overrides(experiment)
    record_audit(
        actor, "create", experiment=experiment, changes={"allocation": allocation_of(experiment)}
    )
    bump_config_version()
    return experiment


# --- lifecycle -------------------------------------------------------------------------------


@transaction.atomic
def do_start_experiment(experiment: Experiment, actor: Any, *, now: datetime | None = None):
    """draft -> running: validates everything and opens phase 1. Locks the experiment row."""
    now = now or timezone.now()
    experiment = _locked(experiment)
    _check_status(experiment, (Status.DRAFT,), "start")
    variants = list(experiment.variants.values("key", "weight", "is_control"))
    check_variants(variants)
    check_experiment_allocation(experiment)
    _check_targeting(experiment.targeting)
    _check_overrides(experiment)
    check_hash_version(experiment)
    check_interleaving_ready(experiment)
    if not experiment.hash_seed:
        experiment.hash_seed = draw_seed(experiment.key)
    experiment.status = Status.RUNNING
    experiment.started_at = now
    experiment.current_phase = 1
    experiment.save(
        update_fields=["status", "started_at", "hash_seed", "current_phase", "updated_at"]
    )
    _open_phase(experiment, 1, now, "start")
    record_audit(
        actor,
        "start",
        experiment=experiment,
        changes={"status": [Status.DRAFT, Status.RUNNING], "allocation": allocation_of(experiment)},
    )
    bump_config_version()
    return experiment


def _transition(
    experiment: Experiment,
    actor: Any,
    *,
    allowed: Sequence[str],
    action: str,
    to: str,
    stamp: str | None,
    now: datetime | None,
    extra_changes: Mapping[str, Any] | None = None,
) -> Experiment:
    now = now or timezone.now()
    experiment = _locked(experiment)
    _check_status(experiment, allowed, action)
    before = experiment.status
    experiment.status = to
    update = ["status", "updated_at"]
    if stamp:
        setattr(experiment, stamp, now)
        update.append(stamp)
    experiment.save(update_fields=update)
    if to == Status.STOPPED:
        _close_phase(experiment, now)
    changes = {"status": [before, to], **(extra_changes or {})}
    record_audit(actor, action, experiment=experiment, changes=changes)
    bump_config_version()
    return experiment


@transaction.atomic
def do_pause_experiment(experiment: Experiment, actor: Any, *, now: datetime | None = None):
    """running -> paused: nobody is assigned until resumed. Locks the experiment row."""
    return _transition(
        experiment,
        actor,
        allowed=(Status.RUNNING,),
        action="pause",
        to=Status.PAUSED,
        stamp=None,
        now=now,
    )


@transaction.atomic
def do_resume_experiment(experiment: Experiment, actor: Any, *, now: datetime | None = None):
    """paused -> running, same phase and seed. Locks the experiment row."""
    return _transition(
        experiment,
        actor,
        allowed=(Status.PAUSED,),
        action="resume",
        to=Status.RUNNING,
        stamp=None,
        now=now,
    )


@transaction.atomic
def do_stop_experiment(experiment: Experiment, actor: Any, *, now: datetime | None = None):
    """running or paused -> stopped; closes the current phase. Locks the experiment row."""
    return _transition(
        experiment,
        actor,
        allowed=(Status.RUNNING, Status.PAUSED),
        action="stop",
        to=Status.STOPPED,
        stamp="stopped_at",
        now=now,
    )


def check_minimum_runtime(experiment: Experiment, override_reason: str, *, now: datetime) -> None:
    """Concluding before ``min_runtime_days`` breaks the commitment made at start: refused
    unless the caller gives a reason, which the audit log records."""
    if experiment.started_at is None or override_reason.strip():
        return
    end = experiment.stopped_at or now
    ran_days = (end - experiment.started_at).total_seconds() / 86400
    if ran_days < experiment.min_runtime_days:
        raise ExperimentError(
            {
                "override_reason": f"experiment {experiment.key!r} ran {ran_days:.1f} of its "
                f"{experiment.min_runtime_days} committed days; concluding early needs an "
                "override reason, which is recorded in the audit log"
            }
        )


@transaction.atomic
def do_conclude_experiment(
    experiment: Experiment,
    actor: Any,
    *,
    override_reason: str = "",
    now: datetime | None = None,
):
    """stopped -> concluded (results final, layer range released). Before the minimum runtime
    only with ``override_reason`` (recorded). Locks the experiment row."""
    now = now or timezone.now()
    locked = _locked(experiment)
    _check_status(locked, (Status.STOPPED,), "conclude")
    check_minimum_runtime(locked, override_reason, now=now)
    return _transition(
        experiment,
        actor,
        allowed=(Status.STOPPED,),
        action="conclude",
        to=Status.CONCLUDED,
        stamp="concluded_at",
        now=now,
        extra_changes={"override_reason": override_reason.strip()} if override_reason else None,
    )
