"""The one Celery app of Splitlab.

Fork safety (see DESIGN.md): torch and faiss carry OpenMP runtimes that do not survive
``fork()``. Nothing imported here or by the task modules at import time touches them; each
worker child process sets its thread counts in ``worker_process_init`` and loads models
lazily afterwards.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.concurrency import ALIASES as POOL_ALIASES
from celery.signals import (
    celeryd_init,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES

from ops.worker import on_worker_process_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# filesystem:// (the embedded broker) writes each message atomically: see ops/broker.py.
TRANSPORT_ALIASES["filesystem"] = "ops.broker:Transport"
# redis:// reuses one Redis client per channel: see ops/broker_redis.py.
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "ops.broker_redis:Transport"
# prefork's children survive a sibling killed while idle: see ops/pool.py.
POOL_ALIASES["prefork"] = POOL_ALIASES["processes"] = "ops.pool:TaskPool"

# Serving messages are consumed without acknowledgement, by any worker that consumes them:
# a request lost with its worker is answered from the fallback lists at the deadline, so
# redelivery is of no use, and kombu's Redis transport would otherwise keep every delivered
# message in an "unacked" hash until acknowledged (two Redis transactions per message).
# Training and default tasks keep it (they acknowledge late).
SERVING_QUEUE = Queue("serving", no_ack=True)

app = Celery("splitlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("training"), SERVING_QUEUE),
    task_track_started=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    result_expires=3600,
)
app.autodiscover_tasks()
app.conf.include = ["ops.diagnostics"]


@worker_process_init.connect
def configure_worker_process(**_: object) -> None:
    """Runs in each worker child after the fork: thread counts, then warm models."""
    from django.conf import settings

    threads = str(settings.SPLITLAB_WORKER_THREADS)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = threads
    on_worker_process_start(int(threads))
    from ops import heartbeat

    if heartbeat.consumes_serving:
        heartbeat.start_beating()


@worker_process_shutdown.connect
def stop_heartbeat(**_: object) -> None:
    """A child leaving cleanly removes its heartbeat (a killed one's goes stale)."""
    from ops import heartbeat

    if heartbeat.consumes_serving:
        heartbeat.forget()


@worker_init.connect
def configure_single_process_worker(sender: Any = None, **_: object) -> None:
    """Pools without child processes (``solo``, ``threads``) run tasks in the worker's own
    process: it gets the same once-per-process set-up, here, before the first task."""
    pool = getattr(sender, "pool_cls", None)
    name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if str(name).rsplit(".", 1)[-1] in ("solo", "threads"):
        configure_worker_process()


@celeryd_init.connect
def note_serving_worker(options: dict, **_: object) -> None:
    """Before the fork: whether this worker consumes the serving queue (its processes then
    send heartbeats, ``ops.heartbeat``); no ``--queues`` means every queue."""
    from ops import heartbeat

    queues = options.get("queues") or []
    if isinstance(queues, str):
        queues = queues.split(",")
    heartbeat.consumes_serving = not queues or "serving" in {str(q).strip() for q in queues}
