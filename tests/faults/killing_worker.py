"""A Celery app for fault scenarios: Splitlab's, plus a SIGKILL inside chosen tasks.

``celery -A tests.faults.killing_worker worker ...`` runs the real tasks; the first time a
task named in ``SPLITLAB_FAULTS_KILL_TASKS`` (comma-separated) starts, a timer kills the
process running it ``SPLITLAB_FAULTS_KILL_AFTER_SECONDS`` later (default 0.05 s), in the
middle of its work or at its very end. Markers under ``SPLITLAB_FAULTS_KILL_DIR`` record
each kill, so each named task is killed once and the test can count the kills.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from celery.signals import task_prerun

from config.celery import app

__all__ = ["app"]


@task_prerun.connect
def kill_once(task: object = None, **_: object) -> None:
    name = getattr(task, "name", "")
    wanted = {t for t in os.environ.get("SPLITLAB_FAULTS_KILL_TASKS", "").split(",") if t}
    if name not in wanted:
        return
    marker = Path(os.environ["SPLITLAB_FAULTS_KILL_DIR"]) / name
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return  # killed once already: let the redelivery run
    delay = float(os.environ.get("SPLITLAB_FAULTS_KILL_AFTER_SECONDS", "0.05"))
    threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
