"""A real worker process answers a task that uses torch (fork safety in practice)."""

import os

import pytest

from config.celery import app
from tests.workers import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.embedded]


def test_real_worker_process_answers_a_torch_task():
    with running_worker(queues="default") as worker:
        result = app.send_task("splitlab.diagnostics.torch_check", kwargs={"size": 32})
        answer = result.get(timeout=60)
    assert answer["pid"] not in (os.getpid(), worker.pid)  # ran in a forked child
    assert answer["torch"].startswith("2.13")
    assert answer["threads"] >= 1
    assert answer["trace"] > 0
