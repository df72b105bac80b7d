"""The broker restarted with training tasks queued: none lost, none run twice to completion.

Redis runs with its append-only file (as a production broker should), training tasks
acknowledge late, and each stage skips what it already finished.
"""

from __future__ import annotations

import re

import pytest

from tests.faults import stack
from tests.faults.test_training_worker_kill import CONFIG, STAGE_TASKS, _complete, _follow


def test_broker_restart_with_training_queued(postgres_prepared, tmp_path):
    prepared = postgres_prepared
    if stack.redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    with stack.redis_server(tmp_path / "redis", appendonly=True) as redis:
        env = prepared.environment(redis.url(0))
        with stack.gunicorn(env) as base:
            client = stack.Client(base, prepared.token)
            status, body = client.request("POST", f"/api/v1/recommender-configs/{CONFIG}/train")
            assert status == 202, body
            assert stack.version_state(prepared.database_url, body["id"])["status"] == "queued"
            redis.stop()  # the workflow's first task waits in the broker
            redis.start()
            # the fault scenarios' worker app at INFO, killing nothing: its log names each run
            with stack.killing_worker(env, "training,default", [], tmp_path / "kills"):
                final, _seen = _follow(prepared.database_url, body["id"], 180)
                log_path = prepared.var_dir / "killing-worker-training-default.log"
                assert stack.wait_until(
                    lambda: "promote_if_gate_passes" in log_path.read_text(), 30
                )
                stack.wait_until(
                    lambda: _successes(log_path.read_text()).get("promote_if_gate_passes"), 30
                )
    assert final["status"] in {"active", "ready"}, final
    assert _complete(final)
    log = log_path.read_text()
    assert "already finished" not in log, "a stage ran again after it had finished"
    assert _successes(log) == dict.fromkeys(STAGES, 1), _successes(log)


STAGES = [task.rsplit(".", 1)[1] for task in STAGE_TASKS]


def _successes(log: str) -> dict[str, int]:
    """How many times each stage task succeeded, from the worker's INFO log."""
    counts: dict[str, int] = {}
    for name in re.findall(r"Task recommenders\.tasks\.(\w+)\[[^\]]+\] succeeded", log):
        counts[name] = counts.get(name, 0) + 1
    return counts
