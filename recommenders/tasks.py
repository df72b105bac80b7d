"""Celery tasks of the recommenders app: the training workflow and online serving.

Training tasks (queue ``training``) take a version id, call one stage service, are
idempotent (a finished stage is skipped), acknowledge late (a worker that dies mid-stage
leaves the message to be redelivered) and retry on transient database or broker errors.
The serving tasks (queue ``serving``) answer requests from the models this worker process
keeps warm (loaded after the fork by the hook registered below): ``serve``, micro-batched
by its own strategy (the default path over Redis), and ``recommend``, one Celery task per
request (the embedded broker, and the reference path); their code is the worker side of
``recommenders.serving``. Task names are part of serialised messages and stay as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from ops.worker import process_start_hooks
from recommenders.services import training, training_stages
from recommenders.serving.batching import SERVE_TASK

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerError, ConnectionError)
TRAINING_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "base": Task,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 5,
    "queue": "training",
}


def _run_stage(task: Task, stage: Any, version_id: int, version_key: str) -> int:
    """Run one stage; a skipped stage is fine, a permanent error fails the version."""
    try:
        training_stages.check_version_key(version_id, version_key)
        stage(version_id)
    except training_stages.StageSkipped as skipped:
        logger.info("%s: %s", task.name, skipped)
    except TRANSIENT_ERRORS:
        if task.request.retries >= task.max_retries:
            training.do_mark_version_failed(version_id, f"{task.name}: retries exhausted")
        raise
    except Exception as error:
        training.do_mark_version_failed(version_id, error)
        raise
    return version_id


@shared_task(name="recommenders.tasks.snapshot_interactions", **TRAINING_TASK_OPTIONS)
def snapshot_interactions(self: Task, version_id: int, version_key: str = "") -> int:
    return _run_stage(self, training_stages.run_snapshot_stage, version_id, version_key)


@shared_task(name="recommenders.tasks.train_model", **TRAINING_TASK_OPTIONS)
def train_model(self: Task, version_id: int, version_key: str = "") -> int:
    return _run_stage(self, training_stages.run_train_stage, version_id, version_key)


@shared_task(name="recommenders.tasks.evaluate_model", **TRAINING_TASK_OPTIONS)
def evaluate_model(self: Task, version_id: int, version_key: str = "") -> int:
    return _run_stage(self, training_stages.run_evaluate_stage, version_id, version_key)


@shared_task(name="recommenders.tasks.build_artifacts", **TRAINING_TASK_OPTIONS)
def build_artifacts(self: Task, version_id: int, version_key: str = "") -> int:
    return _run_stage(self, training_stages.run_build_stage, version_id, version_key)


@shared_task(name="recommenders.tasks.register_model_version", **TRAINING_TASK_OPTIONS)
def register_model_version(self: Task, version_id: int, version_key: str = "") -> int:
    return _run_stage(self, training_stages.run_register_stage, version_id, version_key)


@shared_task(name="recommenders.tasks.promote_if_gate_passes", **TRAINING_TASK_OPTIONS)
def promote_if_gate_passes(self: Task, version_id: int, version_key: str = "") -> int:
    return _run_stage(self, training.run_promote_stage, version_id, version_key)


@shared_task(
    name=training.BEAT_TASK_NAME,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    max_retries=5,
    queue="training",
)
def train_config(config_id: int, trigger: str = "schedule") -> int | None:
    """Celery beat's entry point: start a training of a config (no-op if one is running)."""
    from recommenders.models import RecommenderConfig

    config = RecommenderConfig.objects.filter(pk=config_id).first()
    if config is None:
        logger.warning("retrain schedule points at missing config %s", config_id)
        return None
    return training.do_start_training(config, trigger=trigger).pk


# --- serving -------------------------------------------------------------------------------
@shared_task(
    name="recommenders.tasks.recommend",
    queue="serving",
    acks_late=False,
    track_started=False,
    ignore_result=False,
)
def recommend(
    config_id: int,
    user_id: str,
    k: int,
    context: dict[str, Any] | None = None,
    reply_to: str | None = None,
) -> dict[str, Any] | None:
    """Top-k for one user from the config's active version, kept warm in this process.

    Returns ``{"model_version": id or None, "items": [{item_id, score, source}], "cold":
    bool, "status": "ok" | "no_active_version" | "artifacts_missing"}``. With ``reply_to``
    the answer (or ``{"status": "worker_error"}`` when it fails) is pushed to the web process
    waiting on that Redis list instead (see ``recommenders.serving.transport``), and nothing
    is returned: Celery would only format it for a log line nobody reads.
    """
    from recommenders.serving.transport import push_reply
    from recommenders.serving.worker import recommend_with_warm_model

    try:
        answer = recommend_with_warm_model(config_id, user_id, k, context or {})
    except Exception as error:
        if reply_to:
            push_reply(reply_to, {"status": "worker_error", "detail": type(error).__name__})
        raise
    if reply_to:
        push_reply(reply_to, answer)
        return None
    return answer


class BatchedServing(Task):
    """The ``serve`` task's class: its messages go through the batching strategy, never
    through Celery's per-message request and trace (``recommenders.serving.batching``)."""

    Strategy = "recommenders.serving.batching:batching_strategy"


@shared_task(name=SERVE_TASK, base=BatchedServing, queue="serving", ignore_result=True)
def serve(request: dict[str, Any]) -> int:
    """One request as the batching strategy's pool runs it: its body, a ``serve`` message
    (``batching.request_message``). Called directly only outside a worker (eager mode)."""
    from recommenders.serving.batching import serve_batch

    return serve_batch([request])


def _warm_up_serving_models() -> None:
    from recommenders.serving.model_cache import warm_up

    warm_up()


process_start_hooks.append(_warm_up_serving_models)
