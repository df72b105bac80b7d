"""Writes on experiments: creation, validation, lifecycle, phases, the holdout, the audit log.

Naming follows the project's contract: ``check_*`` validates and raises
:class:`ExperimentError` (a ``ValidationError`` whose messages name the field), ``do_*``
writes inside ``transaction.atomic`` and states its locking in its docstring. Every ``do_*``
records an :class:`~experiments.models.AuditLogEntry` and bumps the
:class:`~experiments.models.ConfigVersion` that assignment caches watch.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from experiments.models import (
    HOLDOUT_MAX_SHARE,
    AuditLogEntry,
    ConfigVersion,
    Experiment,
    ExperimentPhase,
    Holdout,
    Layer,
    Variant,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ExperimentError",
    "allocation_of",
    "bump_config_version",
    "check_allocation",
    "check_hash_version",
    "check_holdout_share",
    "check_layer_range",
    "check_variants",
    "do_conclude_experiment",
    "do_create_experiment",
    "do_create_holdout",
    "do_create_layer",
    "do_end_holdout",
    "do_pause_experiment",
    "do_resume_experiment",
    "do_start_experiment",
    "do_start_new_phase",
    "do_stop_experiment",
    "draw_seed",
    "record_audit",
]

Status = Experiment.Status
# Experiments that hold a layer range or may (again) receive traffic.
ACTIVE_STATUSES = (Status.DRAFT, Status.RUNNING, Status.PAUSED)
ALLOCATION_FIELDS = ("coverage", "hash_seed", "hash_version", "layer", "layer_start", "layer_end")


class ExperimentError(ValidationError):
    """A rule of the experiment lifecycle was broken; messages name the field and the rule."""


def draw_seed(prefix: str) -> str:
    """``prefix`` plus a random 32-bit suffix, so similar keys never give similar seeds."""
    return f"{prefix}-{secrets.token_hex(4)}"


def bump_config_version() -> None:
    """Tell every process's assignment cache that the configuration changed.

    Increments the single :class:`ConfigVersion` row with a fresh random token (row-locked by
    the UPDATE until the surrounding transaction commits), and marks this process's cache
    stale at once.
    """
    token = uuid.uuid4().hex
    updated = ConfigVersion.objects.filter(pk=1).update(
        version=F("version") + 1, token=token, updated_at=timezone.now()
    )
    if not updated:
        ConfigVersion.objects.get_or_create(pk=1, defaults={"version": 1, "token": token})
    from assignment.config_cache import invalidate_local  # the cache lives in the other app

    invalidate_local()
    transaction.on_commit(invalidate_local)


def record_audit(
    actor: Any,
    action: str,
    *,
    experiment: Experiment | None = None,
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditLogEntry:
    """Append who did ``action`` to what, with the changes as ``{field: [before, after]}``."""
    who = actor if getattr(actor, "pk", None) is not None else None
    return AuditLogEntry.objects.create(
        who=who,
        who_name=getattr(actor, "username", "") or "",
        experiment=experiment,
        object_repr=object_repr or (experiment.key if experiment is not None else ""),
        action=action,
        changes=_jsonable(dict(changes or {})),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


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


def _check_targeting(targeting: Any) -> None:
    from assignment.targeting import TargetingError, validate_targeting

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


# --- lifecycle -------------------------------------------------------------------------------


@transaction.atomic
def do_start_experiment(experiment: Experiment, actor: Any, *, now: datetime | None = None):
    """draft -> running: validates everything and opens phase 1. Locks the experiment row."""
    now = now or timezone.now()
    experiment = _locked(experiment)
    _check_status(experiment, (Status.DRAFT,), "start")
    variants = list(experiment.variants.values("key", "weight", "is_control"))
    check_variants(variants)
    check_allocation(
        experiment.coverage,
        experiment.layer,
        experiment.layer_start,
        experiment.layer_end,
        exclude_experiment_id=experiment.pk,
    )
    _check_targeting(experiment.targeting)
    _check_overrides(experiment)
    check_hash_version(experiment)
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
    record_audit(actor, action, experiment=experiment, changes={"status": [before, to]})
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


@transaction.atomic
def do_conclude_experiment(experiment: Experiment, actor: Any, *, now: datetime | None = None):
    """stopped -> concluded (results final, layer range released). Locks the experiment row."""
    return _transition(
        experiment,
        actor,
        allowed=(Status.STOPPED,),
        action="conclude",
        to=Status.CONCLUDED,
        stamp="concluded_at",
        now=now,
    )


# --- layers and the holdout ----------------------------------------------------------------


@transaction.atomic
def do_create_layer(name: str, actor: Any = None, *, description: str = "") -> Layer:
    """Create a layer with a freshly drawn seed (positions never depend on its name)."""
    layer = Layer(name=name, description=description, seed=draw_seed(f"layer-{name}"))
    try:
        layer.full_clean()
    except ValidationError as error:
        raise ExperimentError(error.message_dict) from None
    layer.save()
    record_audit(actor, "create_layer", object_repr=f"layer {name}", changes={"seed": layer.seed})
    bump_config_version()
    return layer


@transaction.atomic
def do_create_holdout(name: str, share: float, actor: Any = None) -> Holdout:
    """Create the global holdout (refused while another is active); its seed is drawn here
    and, like its share, never changes, so membership never moves."""
    check_holdout_share(share)
    if Holdout.objects.select_for_update().filter(is_active=True).exists():
        raise ExperimentError(
            {"is_active": "a holdout is already active; end it before creating another"}
        )
    holdout = Holdout.objects.create(name=name, share=share, seed=draw_seed("holdout"))
    record_audit(
        actor,
        "create_holdout",
        object_repr=f"holdout {name}",
        changes={"share": share, "seed": holdout.seed},
    )
    bump_config_version()
    return holdout


@transaction.atomic
def do_end_holdout(holdout: Holdout, actor: Any = None) -> Holdout:
    """Deactivate the holdout: its users re-enter experiments from now on."""
    Holdout.objects.filter(pk=holdout.pk).update(is_active=False)
    holdout.refresh_from_db()
    record_audit(
        actor,
        "end_holdout",
        object_repr=f"holdout {holdout.name}",
        changes={"is_active": [True, False]},
    )
    bump_config_version()
    return holdout
