"""A training worker SIGKILLed in each stage of one training run.

Stage tasks acknowledge late and are requeued when their process is lost
(``reject_on_worker_lost``), and each stage skips what it already finished, so the version is
retried stage by stage: it must end finished (active or ready, with a complete artifact
folder) or failed, never active while half-written; and the next run proceeds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.faults import stack

STAGE_TASKS = [
    f"recommenders.tasks.{name}"
    for name in (
        "snapshot_interactions",
        "train_model",
        "evaluate_model",
        "build_artifacts",
        "register_model_version",
        "promote_if_gate_passes",
    )
]
CONFIG = "bench-serving-als"  # the configuration tests/faults/_prepare.py trains
FINISHED = {"active", "ready", "failed"}


def _follow(database_url: str, version_id: int, seconds: float) -> tuple[dict, list[dict]]:
    """Poll the version until it finishes; its last row and every row seen."""
    seen: list[dict] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = stack.version_state(database_url, version_id)
        seen.append(row)
        if row["status"] in FINISHED:
            return row, seen
        time.sleep(0.1)
    return seen[-1], seen


def _kills_seen(folder: Path, expected: int, seconds: float) -> list[str]:
    """The stages killed so far, waiting up to ``seconds`` for ``expected`` of them."""
    deadline = time.monotonic() + seconds
    while True:
        killed = sorted(path.name for path in folder.iterdir())
        if len(killed) >= expected or time.monotonic() > deadline:
            return killed
        time.sleep(0.2)


def _complete(row: dict) -> bool:
    manifest = Path(row["artifact_path"] or "/nonexistent") / "manifest.json"
    return manifest.is_file() and bool(json.loads(manifest.read_text()))


def test_training_worker_killed_in_each_stage(postgres_prepared, redis, tmp_path):
    prepared = postgres_prepared
    env = prepared.environment(redis.url(0))
    kills = tmp_path / "kills"
    with (
        stack.gunicorn(env) as base,
        stack.killing_worker(env, "training,default", STAGE_TASKS, kills),
    ):
        client = stack.Client(base, prepared.token)
        status, body = client.request("POST", f"/api/v1/recommender-configs/{CONFIG}/train")
        assert status == 202, body
        final, seen = _follow(prepared.database_url, body["id"], 240)
        # "ready" is finished, yet the promotion stage may run (and be killed) just after
        killed = _kills_seen(kills, len(STAGE_TASKS), seconds=60)
        final, more = _follow(prepared.database_url, body["id"], 120)
        seen += more

        status, again = client.request("POST", f"/api/v1/recommender-configs/{CONFIG}/train")
        assert status == 202 and again["id"] != body["id"], again
        after, _ = _follow(prepared.database_url, again["id"], 120)

    assert killed == sorted(STAGE_TASKS), "not every stage was killed once"
    assert final["status"] in FINISHED, final
    assert not any(row["status"] == "active" and row["stage"] != "done" for row in seen)
    if final["status"] != "failed":
        assert _complete(final), f"finished but half-written: {final}"
    assert after["status"] in {"active", "ready"}, after
    assert _complete(after)
