"""The serving request/reply channel: Redis lists with a Redis broker, else the result backend."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings

from recommenders import tasks
from recommenders.serving import batching, transport, worker

needs_redis = pytest.mark.skipif(
    not transport.replies_over_redis(), reason="replies travel over Redis with a Redis broker"
)
KWARGS = {"config_id": 1, "user_id": "u1", "k": 3, "context": {}}


def _answer(config_id, user_id, k, context):
    return {"status": "ok", "model_version": 7, "items": [{"item_id": "i1", "score": 0.5}]}


@pytest.fixture
def answering_worker(monkeypatch):
    monkeypatch.setattr(worker, "recommend_with_warm_model", _answer)


@pytest.fixture(params=["batched", "task"])
def serving_path(request, settings):
    """Both ways a request travels over Redis: the micro-batched ``serve`` message and one
    ``recommend`` task per request."""
    settings.SPLITLAB_SERVING_PATH = request.param
    return request.param


def _intercept_sends(monkeypatch, serving_path: str, deliver) -> list[dict]:
    """Record each request sent on ``serving_path`` (its kwargs, with ``reply_to``), and
    pass it on (run eagerly) only when ``deliver(kwargs)``."""
    sent: list[dict] = []
    if serving_path == "task":
        real_task = tasks.recommend.apply_async

        def send_task(**options):
            sent.append({**options["kwargs"], "options": options})
            return real_task(**options) if deliver(options["kwargs"]) else None

        monkeypatch.setattr(tasks.recommend, "apply_async", send_task)
    else:
        real_publish = transport._publish_serve

        def publish(kwargs, reply_to, deadline_seconds):
            sent.append({**kwargs, "reply_to": reply_to})
            if deliver(kwargs):
                real_publish(kwargs, reply_to, deadline_seconds)

        monkeypatch.setattr(transport, "_publish_serve", publish)
    return sent


def test_the_answer_comes_back_on_the_channel_of_the_broker(answering_worker, serving_path):
    # Tasks run eagerly in tests: the worker's side of the channel runs in this process.
    answer = transport.ask_serving_worker(dict(KWARGS), deadline_seconds=1.0)
    assert answer["model_version"] == 7 and answer["items"][0]["item_id"] == "i1"


@needs_redis
def test_no_answer_within_the_deadline_is_a_timeout(monkeypatch, serving_path):
    sent = _intercept_sends(monkeypatch, serving_path, deliver=lambda kwargs: False)
    with pytest.raises(transport.ServingTimeout):
        transport.ask_serving_worker(dict(KWARGS), deadline_seconds=0.05)
    (request,) = sent
    assert request["reply_to"].startswith(transport.REPLY_PREFIX)
    if serving_path == "task":
        options = request["options"]
        assert options["ignore_result"] is True and options["queue"] == "serving"
        assert options["expires"] >= 1.0  # a request nobody waits for is dropped, not run late


@needs_redis
def test_the_wait_ends_at_the_deadline_not_on_the_redis_tick(monkeypatch, serving_path):
    """Redis ends a blocked BLPOP on its 10 Hz tick: a 50 ms wait took about 100 ms (and a
    100 ms one up to 200 ms). The web process times the wait itself."""
    _intercept_sends(monkeypatch, serving_path, deliver=lambda kwargs: False)
    waits = []
    for _ in range(7):
        started = time.monotonic()
        with pytest.raises(transport.ServingTimeout):
            transport.ask_serving_worker(dict(KWARGS), deadline_seconds=0.05)
        waits.append(time.monotonic() - started)
    assert sorted(waits)[3] < 0.08, waits  # the median: 50 ms and the send, not ~100 ms
    assert transport._redis().ping()  # the connection closed at the deadline is replaced


@needs_redis
def test_several_waits_end_at_the_deadline_too(monkeypatch, serving_path):
    _intercept_sends(monkeypatch, serving_path, deliver=lambda kwargs: False)
    waits = []
    for _ in range(5):
        started = time.monotonic()
        answers = transport.ask_serving_workers(
            [dict(KWARGS), {**KWARGS, "config_id": 2}], deadline_seconds=0.05
        )
        waits.append(time.monotonic() - started)
        assert all(isinstance(a, transport.ServingTimeout) for a in answers)
    assert sorted(waits)[2] < 0.08, waits


def test_a_serve_message_is_the_request_and_the_time_nobody_waits_after():
    before = time.time()
    body = json.loads(batching.request_message(3, "u1", 5, {"surface": "home"}, "r", before + 1))
    assert body == {
        "config_id": 3,
        "user_id": "u1",
        "k": 5,
        "context": {"surface": "home"},
        "reply_to": "r",
        "until": before + 1,
    }


@needs_redis
def test_a_reply_nobody_reads_expires():
    key = transport.REPLY_PREFIX + "late"
    transport.push_reply(key, {"status": "ok"})
    client = transport._redis()
    try:
        assert json.loads(client.lpop(key)) == {"status": "ok"}
        transport.push_reply(key, {"status": "ok"})
        ttl_ms = client.pttl(key)
        assert 0 < ttl_ms <= max(2000, 2 * settings.SPLITLAB_SERVING_DEADLINE_MS)
    finally:
        client.delete(key)


@needs_redis
def test_a_failing_task_answers_worker_error_at_once(monkeypatch):
    def crash(*args):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(worker, "recommend_with_warm_model", crash)
    key = transport.REPLY_PREFIX + "crash"
    with pytest.raises(RuntimeError):
        tasks.recommend.run(**KWARGS, reply_to=key)
    client = transport._redis()
    try:
        assert json.loads(client.lpop(key)) == {"status": "worker_error", "detail": "RuntimeError"}
    finally:
        client.delete(key)


def test_the_task_answers_on_the_list_or_returns_its_answer(answering_worker, monkeypatch):
    pushed = []
    monkeypatch.setattr(transport, "push_reply", lambda key, answer: pushed.append((key, answer)))
    key = transport.REPLY_PREFIX + "x"
    assert tasks.recommend.run(**KWARGS, reply_to=key) is None
    assert pushed == [(key, _answer(**KWARGS))]
    assert tasks.recommend.run(**KWARGS) == _answer(**KWARGS)


def test_reply_keys_are_only_serving_replies():
    with pytest.raises(ValueError, match="reply_to"):
        transport.push_reply("celery", {"status": "ok"})


def test_several_answers_come_back_together(answering_worker, serving_path):
    answers = transport.ask_serving_workers(
        [dict(KWARGS), {**KWARGS, "config_id": 2}], deadline_seconds=1.0
    )
    assert [a["model_version"] for a in answers] == [7, 7]


@needs_redis
def test_a_missing_answer_among_several_is_a_timeout_within_one_deadline(
    answering_worker, monkeypatch, serving_path
):
    _intercept_sends(monkeypatch, serving_path, deliver=lambda kwargs: kwargs["config_id"] != 2)
    started = time.monotonic()
    first, second = transport.ask_serving_workers(
        [dict(KWARGS), {**KWARGS, "config_id": 2}], deadline_seconds=0.2
    )
    assert time.monotonic() - started < 0.4
    assert first["model_version"] == 7 and isinstance(second, transport.ServingTimeout)


@needs_redis
def test_answers_already_there_when_the_deadline_is_spent_are_taken(monkeypatch, serving_path):
    def slow_answer(config_id, user_id, k, context):  # runs eagerly, before the wait
        time.sleep(0.15)
        return _answer(config_id, user_id, k, context)

    monkeypatch.setattr(worker, "recommend_with_warm_model", slow_answer)
    answers = transport.ask_serving_workers(
        [dict(KWARGS), {**KWARGS, "config_id": 2}], deadline_seconds=0.1
    )
    assert [a["model_version"] for a in answers] == [7, 7]
