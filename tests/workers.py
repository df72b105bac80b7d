"""Start a real Celery worker process for a test, on the broker the tests are configured with.

With ``CELERY_BROKER_URL`` set (CI: Redis) the worker uses it; otherwise the embedded
filesystem broker under the test var folder. The worker sees the test database when it is
PostgreSQL (pytest-django's ``test_<name>``); SQLite test databases live in memory, so tests
that need the worker to read the database run on PostgreSQL only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent


def worker_environment() -> dict[str, str]:
    """The environment of the test process, pointed at the test database."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DJANGO_SECRET_KEY"] = settings.SECRET_KEY
    env["SPLITLAB_VAR_DIR"] = str(settings.VAR_DIR)
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        user = db.get("USER") or "postgres"
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    return env


@contextmanager
def running_worker(
    queues: str = "default,training,serving", concurrency: int = 1, ready_timeout: float = 60
) -> Iterator[subprocess.Popen]:
    """A ``celery worker`` subprocess, stopped (then killed if needed) on exit.

    While it runs, tasks sent by the test process go to the broker instead of running
    eagerly, so the worker really executes them.
    """
    from config.celery import app

    log_path = Path(settings.VAR_DIR) / f"worker-{os.getpid()}-{time.time_ns()}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--pool",
            "prefork",
        ],
        cwd=REPO_ROOT,
        env=worker_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + ready_timeout
        while "ready." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        app.conf.task_always_eager = eager
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
