"""Micro-batching on the serving worker (``recommenders.serving.batching``): the dispatch
of waiting requests to the pool, and batched answers equal to the answers given alone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from recommenders.services import training
from recommenders.serving import batching, transport, worker
from tests.recommenders.serving_data import load_planted_catalogue, make_config


class HeldPool:
    """A pool whose dispatches finish only when the test says so."""

    def __init__(self) -> None:
        self.running: list[tuple[list[dict[str, Any]], Any]] = []

    def apply_async(self, target, args, callback, error_callback):
        assert target is batching.serve_batch
        self.running.append((args[0], callback))

    def finish_first(self) -> list[dict[str, Any]]:
        batch, callback = self.running.pop(0)
        callback(len(batch))
        return batch


def _request(n: int, until: float | None = None) -> dict[str, Any]:
    until = time.time() + 10 if until is None else until
    return {"config_id": 1, "user_id": f"u{n}", "k": 3, "context": {}, "until": until}


def test_a_request_finding_a_free_slot_leaves_at_once_alone():
    pool = HeldPool()
    batcher = batching.Batcher(pool, slots=2, batch_max=16)
    batcher.add(_request(1))
    batcher.add(_request(2))
    assert [[r["user_id"] for r in batch] for batch, _ in pool.running] == [["u1"], ["u2"]]


def test_requests_arriving_while_every_slot_works_leave_together_up_to_the_maximum():
    pool = HeldPool()
    batcher = batching.Batcher(pool, slots=1, batch_max=3)
    for n in range(6):
        batcher.add(_request(n))
    assert [r["user_id"] for r in pool.finish_first()] == ["u0"]
    assert [r["user_id"] for r in pool.finish_first()] == ["u1", "u2", "u3"]
    assert [r["user_id"] for r in pool.finish_first()] == ["u4", "u5"]
    assert pool.running == [] and batcher.in_flight == 0 and not batcher.waiting


def test_requests_whose_deadline_passed_while_waiting_are_dropped():
    pool = HeldPool()
    batcher = batching.Batcher(pool, slots=1, batch_max=16)
    batcher.add(_request(0))
    batcher.add(_request(1, until=time.time() - 1))
    batcher.add(_request(2))
    pool.finish_first()
    assert [r["user_id"] for r in pool.finish_first()] == ["u2"]


def test_a_pool_that_refuses_frees_the_slot():
    class ClosedPool:
        def apply_async(self, *args, **kwargs):
            raise RuntimeError("pool closed")

    batcher = batching.Batcher(ClosedPool(), slots=1, batch_max=16)
    batcher.add(_request(0))
    assert batcher.in_flight == 0


def test_the_strategy_acknowledges_and_never_lets_a_bad_message_out():
    pool = HeldPool()

    class Consumer:
        connection_errors = ()

    Consumer.pool = pool
    handler = batching.batching_strategy(None, None, Consumer())
    acked = []

    class Message:
        def __init__(self, body: bytes) -> None:
            self.body = body

    ack = lambda *args: acked.append(args)  # noqa: E731
    handler(Message(b"not json"), None, ack, None, None)
    handler(Message(b"[1, 2]"), None, ack, None, None)
    handler(Message(json.dumps(_request(7)).encode()), None, ack, None, None)
    assert len(acked) == 3
    assert [[r["user_id"] for r in batch] for batch, _ in pool.running] == [["u7"]]


def test_a_failing_request_is_answered_worker_error_and_the_others_are_served(monkeypatch):
    def answer(config_id, user_id, k, context):
        if user_id == "bad":
            raise RuntimeError("model exploded")
        return {"status": "ok", "items": [], "model_version": 1}

    pushed: list[tuple[str, dict]] = []
    monkeypatch.setattr(worker, "recommend_with_warm_model", answer)
    monkeypatch.setattr(transport, "push_replies", pushed.extend)
    requests = [
        {**_request(n), "user_id": user, "reply_to": f"{transport.REPLY_PREFIX}{n}"}
        for n, user in enumerate(["a", "bad", "c"])
    ]
    assert batching.serve_batch(requests) == 3
    assert [a["status"] for _, a in pushed] == ["ok", "worker_error", "ok"]


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["item_cf", "als", "popular"])
def test_batched_answers_are_the_answers_each_request_gets_alone(
    algorithm, settings, tmp_path: Path, monkeypatch
):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    load_planted_catalogue()
    config = make_config(f"batch-{algorithm}", algorithm)
    training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)
    users = ["a0", "b1", "a3", "newcomer", "b4", "a0"]
    alone = [
        worker.recommend_with_warm_model(config.pk, user, 5, {"request_id": f"r{n}"})
        for n, user in enumerate(users)
    ]
    pushed: list[tuple[str, dict]] = []
    monkeypatch.setattr(transport, "push_replies", pushed.extend)
    batch = [
        {
            "config_id": config.pk,
            "user_id": user,
            "k": 5,
            "context": {"request_id": f"r{n}"},
            "reply_to": f"{transport.REPLY_PREFIX}{n}",
            "until": time.time() + 10,
        }
        for n, user in enumerate(users)
    ]
    assert batching.serve_batch(batch) == len(users)
    assert all(answer["status"] == "ok" and answer["items"] for answer in alone)
    assert [answer for _, answer in pushed] == alone
