"""Training, promotion and rollback of model versions (writes; the stages live in
:mod:`recommenders.services.training_stages`).

Naming follows STYLE.md: ``check_*`` validates, ``do_*`` writes. The workflow is a Celery
chain on the ``training`` queue, one task per stage (snapshot, train, evaluate, build,
register, promote), each taking the version id; it is enqueued with
``transaction.on_commit`` so a worker never looks for a version that is not committed yet.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from recommenders.models import ModelVersion, RecommenderConfig
from recommenders.services import training_stages as stages

logger = logging.getLogger(__name__)

Status = ModelVersion.Status
Stage = ModelVersion.Stage

__all__ = [
    "GateDecision",
    "PromotionError",
    "check_promotion_gate",
    "do_mark_version_failed",
    "do_promote_model_version",
    "do_rollback_config",
    "do_set_retrain_schedule",
    "do_start_training",
    "run_pipeline_in_process",
    "run_promote_stage",
]

BEAT_TASK_NAME = "recommenders.tasks.train_config"


class PromotionError(ValueError):
    """A promotion or rollback that cannot happen; the message says why."""


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str


# --- starting ------------------------------------------------------------------------------
def do_start_training(
    config: RecommenderConfig, *, trigger: str = "manual", enqueue: bool = True
) -> ModelVersion:
    """Create a queued version of ``config`` and enqueue its workflow after commit.

    When a version of the config is already queued or running, that one is returned and
    nothing new is started (a double click trains once). A version still queued has its
    workflow sent again: its message may have been lost (taken by a worker of another
    deployment, or a flushed broker), and the stage tasks skip work already done, so a
    lost message can never block training for good. Locks the config row.
    """
    with transaction.atomic():
        RecommenderConfig.objects.select_for_update().filter(pk=config.pk).first()
        running = config.versions.filter(status__in=ModelVersion.RUNNING_STATUSES).first()
        if running is not None:
            if enqueue and running.status == ModelVersion.Status.QUEUED:
                transaction.on_commit(lambda: enqueue_training_workflow(running.pk))
            return running
        version = ModelVersion.objects.create(
            config=config,
            trigger=trigger,
            algorithm=config.algorithm,
            params=config.params,
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_training_workflow(version.pk))
    return version


def enqueue_training_workflow(version_id: int) -> str:
    """Send the chain of stage tasks for ``version_id`` to the training queue."""
    from celery import chain

    from recommenders import tasks

    version = ModelVersion.objects.get(pk=version_id)
    key = stages.version_key(version)
    workflow = chain(
        tasks.snapshot_interactions.si(version_id, key),
        tasks.train_model.si(version_id, key),
        tasks.evaluate_model.si(version_id, key),
        tasks.build_artifacts.si(version_id, key),
        tasks.register_model_version.si(version_id, key),
        tasks.promote_if_gate_passes.si(version_id, key),
    )
    result = workflow.apply_async(queue="training")
    return result.id


def run_pipeline_in_process(
    version_id: int, progress: Callable[[ModelVersion], None] | None = None
) -> ModelVersion:
    """Every stage in this process, in order (``manage.py train --sync``); marks the
    version failed and re-raises when a stage fails."""
    steps = (
        stages.run_snapshot_stage,
        stages.run_train_stage,
        stages.run_evaluate_stage,
        lambda pk: stages.run_build_stage(pk, progress),
        stages.run_register_stage,
        run_promote_stage,
    )
    for step in steps:
        try:
            step(version_id)
        except stages.StageSkipped:
            pass
        except Exception as error:
            do_mark_version_failed(version_id, error)
            raise
        if progress:
            progress(ModelVersion.objects.select_related("config").get(pk=version_id))
    return ModelVersion.objects.select_related("config").get(pk=version_id)


def do_mark_version_failed(version_id: int, error: BaseException | str) -> None:
    """Record a failed version with its error; an active or ready version is never touched."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    ModelVersion.objects.filter(pk=version_id, status__in=ModelVersion.RUNNING_STATUSES).update(
        status=Status.FAILED, error=message[:5000], finished_at=timezone.now()
    )


# --- the gate and promotion ----------------------------------------------------------------
def check_promotion_gate(version: ModelVersion) -> GateDecision:
    """Passes when no version is active, or when the new metric m_new and the active
    m_active satisfy ``m_new >= m_active * (1 - tolerance)`` (higher is better)."""
    config = version.config
    metric = config.promotion_metric
    new_value = version.metrics.get(metric)
    if new_value is None:
        return GateDecision(False, f"no offline metric {metric!r} in {sorted(version.metrics)}")
    active = config.versions.filter(status=Status.ACTIVE).exclude(pk=version.pk).first()
    if active is None:
        return GateDecision(True, f"no active version; {metric}={new_value:.4f}")
    active_value = active.metrics.get(metric)
    if active_value is None:
        return GateDecision(True, f"active v{active.pk} has no {metric}; {metric}={new_value:.4f}")
    floor = active_value * (1.0 - config.promotion_tolerance)
    verdict = "passes" if new_value >= floor else "fails"
    return GateDecision(
        new_value >= floor,
        f"{verdict}: {metric}={new_value:.4f} vs active v{active.pk} {active_value:.4f} "
        f"(floor {floor:.4f} at tolerance {config.promotion_tolerance:.1%})",
    )


def run_promote_stage(version_id: int) -> None:
    """The workflow's last stage: promote when the gate passes and auto-promotion is on.

    One transaction: a reader never sees the version active while its stage still says
    "register", and a worker killed midway leaves the stage to be run again from the start.
    """
    with transaction.atomic():
        version = stages._load_for_stage(version_id, Stage.PROMOTE)
        decision = check_promotion_gate(version)
        version.gate_decision = decision.reason
        version.save(update_fields=["gate_decision"])
        if decision.passed and version.config.auto_promote:
            do_promote_model_version(version, reason=f"gate {decision.reason}")
        version.refresh_from_db()
        stages._set_progress(
            version, percent=stages.STAGE_DONE_PERCENT[Stage.PROMOTE], stage=Stage.DONE
        )


def do_promote_model_version(version: ModelVersion, *, reason: str = "explicit") -> ModelVersion:
    """Make ``version`` the active one of its config; the previous active one is retired
    and remembered as the rollback target. Locks the config row; runs in one transaction."""
    with transaction.atomic():
        RecommenderConfig.objects.select_for_update().filter(pk=version.config_id).first()
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status == Status.ACTIVE:
            return version
        check_promotable(version)
        previous = (
            ModelVersion.objects.filter(config_id=version.config_id, status=Status.ACTIVE)
            .exclude(pk=version.pk)
            .first()
        )
        now = timezone.now()
        if previous is not None:
            previous.status = Status.RETIRED
            previous.retired_at = now
            previous.save(update_fields=["status", "retired_at"])
        version.status = Status.ACTIVE
        version.activated_at = now
        version.retired_at = None
        version.previous_version = previous
        if reason not in version.gate_decision:
            version.gate_decision = (version.gate_decision + f"\npromoted: {reason}").strip()
        version.save(
            update_fields=[
                "status",
                "activated_at",
                "retired_at",
                "previous_version",
                "gate_decision",
            ]
        )
    logger.info("promoted %s (%s)", version, reason)
    return version


def check_promotable(version: ModelVersion) -> None:
    """A version can serve when it finished training and its artifacts are on disk."""
    if version.status not in (Status.READY, Status.RETIRED):
        raise PromotionError(
            f"version {version.pk} is {version.status}; only ready or retired versions can "
            "be promoted"
        )
    folder = version.artifact_path
    if not folder or not (stages.Path(folder) / stages.MANIFEST_FILE).is_file():
        raise PromotionError(f"version {version.pk}: artifacts missing at {folder or '(none)'}")


def do_rollback_config(config: RecommenderConfig) -> ModelVersion:
    """Re-activate the version that was active before the current one (one step back)."""
    active = config.versions.filter(status=Status.ACTIVE).first()
    if active is None:
        raise PromotionError(f"{config.name}: no active version to roll back from")
    target = active.previous_version
    if target is None:
        raise PromotionError(f"{config.name}: v{active.pk} has no previous version")
    earlier = target.previous_version_id
    with transaction.atomic():
        restored = do_promote_model_version(target, reason=f"rollback from v{active.pk}")
        # Keep the chain going backwards: the next rollback goes to what preceded target.
        ModelVersion.objects.filter(pk=restored.pk).update(previous_version_id=earlier)
    restored.refresh_from_db()
    return restored


# --- schedule ------------------------------------------------------------------------------
def do_set_retrain_schedule(
    config: RecommenderConfig, *, every_hours: int | None = None, crontab: str | None = None
) -> RecommenderConfig:
    """Create or update the Celery beat entry that retrains ``config`` (django-celery-beat,
    editable in the admin). ``crontab`` is "minute hour day_of_month month day_of_week"."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    if (every_hours is None) == (crontab is None):
        raise ValueError("give exactly one of every_hours or crontab")
    schedule: dict = {"interval": None, "crontab": None}
    if every_hours is not None:
        if every_hours < 1:
            raise ValueError("every_hours must be at least 1")
        schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
            every=every_hours, period=IntervalSchedule.HOURS
        )
    else:
        parts = crontab.split()
        if len(parts) != 5:
            raise ValueError("crontab needs 5 fields: minute hour day_of_month month day_of_week")
        keys = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
            **dict(zip(keys, parts, strict=True))
        )
    with transaction.atomic():
        task = config.retrain_schedule or PeriodicTask(name=f"retrain {config.name}")
        task.task = BEAT_TASK_NAME
        task.kwargs = json.dumps({"config_id": config.pk, "trigger": "schedule"})
        task.queue = "training"
        task.enabled = True
        task.interval = schedule["interval"]
        task.crontab = schedule["crontab"]
        task.save()
        config.retrain_schedule = task
        config.save(update_fields=["retrain_schedule", "updated_at"])
    return config
