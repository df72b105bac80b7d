"""Asking a serving worker for one list and waiting, at most the deadline, for its answer.

The request always travels as a Celery task on the ``serving`` queue. The answer comes back
on one of two channels, chosen by the broker:

- **Redis** (production): the worker pushes its answer as JSON onto a Redis list named for
  the request, which the web process waits on with one ``BLPOP`` bounded by the deadline; a
  reply nobody waits for any more (the deadline passed) expires within seconds. The web
  process times the wait itself (:func:`_pop_reply`): Redis ends a blocked command only on
  its ``hz`` tick (10 a second), so a 100 ms ``BLPOP`` came back after 100 to 200 ms.
  The request goes, with ``SPLITLAB_SERVING_PATH=batched`` (the default), as the
  ``recommenders.serve`` task whose body is the request itself, published straight to the
  ``serving`` queue without Celery's task envelope and micro-batched on the worker
  (``batching``); with ``task``, as the ``recommend`` task sent by ``apply_async`` without a
  result, one pool dispatch each.
- **any other broker** (the embedded filesystem one): the ``recommend`` task and Celery's
  result backend.

Both raise the same exceptions, so the caller only tells a timeout from anything else.

:func:`ask_serving_workers` asks for several lists at once (an interleaving experiment's
rankers): every task is sent first, then all answers are awaited under the one deadline
(``BLPOP`` on the reply keys still missing, with the time left), so the rankers run in
parallel on the worker pool and the wait is the slowest answer's, not the sum.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from typing import Any

from django.conf import settings
from redis.exceptions import TimeoutError as RedisTimeout

from recommenders.serving import batching

__all__ = [
    "ServingTimeout",
    "ask_serving_worker",
    "ask_serving_workers",
    "push_replies",
    "push_reply",
    "replies_over_redis",
]

REPLY_PREFIX = "splitlab:serving:reply:"
REPLY_TTL_MS_MIN = 2000  # a late reply nobody reads is gone after at most this (or 2 deadlines)


class ServingTimeout(Exception):
    """No answer from a serving worker within the deadline."""


def replies_over_redis() -> bool:
    """Whether answers come back over Redis lists (the broker is Redis)."""
    return str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://", "unix://"))


def _options(kwargs: dict[str, Any], deadline_seconds: float) -> dict[str, Any]:
    shown = f"{{config_id: {kwargs.get('config_id')}, user_id: {kwargs.get('user_id')!r}}}"
    return {
        "queue": "serving",
        "expires": max(2 * deadline_seconds, 1.0),  # a request nobody waits for is not run
        "retry": False,
        # What monitoring shows of the arguments, given so that Celery does not walk them
        # with its safe repr on every request (a sixth of the send's cost).
        "argsrepr": "()",
        "kwargsrepr": shown,
    }


def ask_serving_worker(kwargs: dict[str, Any], deadline_seconds: float) -> dict[str, Any]:
    """Send one request (``kwargs``: ``config_id``, ``user_id``, ``k``, ``context``) to the
    serving workers and return the worker's answer.

    Raises :class:`ServingTimeout` after ``deadline_seconds`` without one; broker and Redis
    errors propagate as raised (the caller classifies them), as does an error the task
    raised when answers come through the result backend.
    """
    if replies_over_redis():
        end = time.monotonic() + deadline_seconds
        reply_to = _send_with_reply(kwargs, deadline_seconds)
        popped = _pop_reply(_redis(), [reply_to], end - time.monotonic())
        if popped is None:
            raise ServingTimeout(f"no answer within {deadline_seconds:.3f} s")
        return json.loads(popped[1])
    from recommenders.tasks import recommend

    options = _options(kwargs, deadline_seconds)
    return _ask_through_result_backend(recommend, kwargs, deadline_seconds, options)


def _send_with_reply(kwargs: dict[str, Any], deadline_seconds: float) -> str:
    """Send one request whose answer comes back on a Redis list; returns the list's key."""
    reply_to = REPLY_PREFIX + uuid.uuid4().hex
    if settings.SPLITLAB_SERVING_PATH == "batched":
        _publish_serve(kwargs, reply_to, deadline_seconds)
    else:
        from recommenders.tasks import recommend

        recommend.apply_async(
            kwargs={**kwargs, "reply_to": reply_to},
            ignore_result=True,
            **_options(kwargs, deadline_seconds),
        )
    return reply_to


def _publish_serve(kwargs: dict[str, Any], reply_to: str, deadline_seconds: float) -> None:
    """The ``serve`` message straight onto the ``serving`` queue: Celery's worker needs only
    the ``task`` header to hand it to the batching strategy, which reads the body itself."""
    from config.celery import app

    body = batching.request_message(
        kwargs["config_id"],
        kwargs["user_id"],
        kwargs["k"],
        kwargs["context"],
        reply_to,
        until=time.time() + max(2 * deadline_seconds, 1.0),
    )
    if app.conf.task_always_eager:  # as Celery runs any task in eager mode: here, now
        batching.serve_batch([json.loads(body)])
        return
    with app.producer_pool.acquire(block=True) as producer:
        producer.publish(
            body,
            exchange="",
            routing_key="serving",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": batching.SERVE_TASK, "id": reply_to},
            retry=False,
        )


REDIS_TIMEOUT_MARGIN_SECONDS = 1.0


def _pop_reply(client: Any, keys: list[str], left_seconds: float) -> tuple[str, bytes] | None:
    """``BLPOP keys`` waited for at most ``left_seconds`` by this process; None: no reply.

    Redis checks a blocked client's timeout on its ``hz`` tick (10 a second by default), so
    it answered a 100 ms ``BLPOP`` after 100 to 200 ms (measured); a request then missed its
    deadline by up to 100 ms. Here the reply is read with a socket timeout of the time left;
    past it the connection, whose ``BLPOP`` is still pending, is closed and not reused (Redis
    drops a closed client's ``BLPOP``; a reply popped for it meanwhile was going to be too
    late anyway). Redis's own timeout, a margin later, only frees a connection lost
    otherwise.
    """
    if left_seconds <= 0:
        return None
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        redis_timeout = f"{left_seconds + REDIS_TIMEOUT_MARGIN_SECONDS:.3f}"
        connection.send_command("BLPOP", *keys, redis_timeout)
        try:
            popped = connection.read_response(timeout=left_seconds)
        except RedisTimeout:
            connection.disconnect()  # read_response did too; a pending BLPOP must not stay
            return None
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)
    if popped is None:
        return None
    key, reply = popped
    return (key.decode() if isinstance(key, bytes) else key), reply


def _ask_through_result_backend(
    task: Any, kwargs: dict[str, Any], deadline_seconds: float, options: dict[str, Any]
) -> dict[str, Any]:
    from celery.exceptions import TimeoutError as ResultTimeout

    result = task.apply_async(kwargs=kwargs, **options)
    try:
        return result.get(timeout=deadline_seconds, interval=0.005, propagate=True)
    except ResultTimeout as error:
        raise ServingTimeout(str(error)) from error
    finally:
        # A result the backend cannot delete expires on its own.
        with contextlib.suppress(Exception):
            result.forget()


def ask_serving_workers(
    requests: list[dict[str, Any]], deadline_seconds: float
) -> list[dict[str, Any] | BaseException]:
    """Send every request of ``requests``, then await every answer within
    the one ``deadline_seconds``. Returns, in order, each answer or the exception that stands
    for it (:class:`ServingTimeout`, a broker error, an error the task raised). A broker error
    while sending propagates (no answer can come)."""
    from recommenders.tasks import recommend

    end = time.monotonic() + deadline_seconds
    results: list[dict[str, Any] | BaseException] = [
        ServingTimeout(f"no answer within {deadline_seconds:.3f} s") for _ in requests
    ]
    if replies_over_redis():
        waiting: dict[str, int] = {}
        for index, kwargs in enumerate(requests):
            waiting[_send_with_reply(kwargs, deadline_seconds)] = index
        client = _redis()
        while waiting:
            left = end - time.monotonic()
            if left <= 0:
                break
            popped = _pop_reply(client, list(waiting), left)  # the first key with a reply
            if popped is None:
                break
            key, reply = popped
            results[waiting.pop(key)] = json.loads(reply)
        if waiting:  # the deadline is spent: take, without waiting, what is already there
            pipe = client.pipeline(transaction=False)
            for key in waiting:
                pipe.lpop(key)
            for key, reply in zip(list(waiting), pipe.execute(), strict=True):
                if reply is not None:
                    results[waiting.pop(key)] = json.loads(reply)
        return results
    sent = [
        (index, recommend.apply_async(kwargs=kwargs, **_options(kwargs, deadline_seconds)))
        for index, kwargs in enumerate(requests)
    ]
    for index, result in sent:
        results[index] = _collect(result, end)
    return results


def _collect(result: Any, end: float) -> dict[str, Any] | BaseException:
    """One result-backend answer within what is left of the shared deadline."""
    from celery.exceptions import TimeoutError as ResultTimeout

    try:
        left = end - time.monotonic()
        if left <= 0 and not result.ready():
            return ServingTimeout("no answer within the deadline")
        return result.get(timeout=max(left, 0.001), interval=0.005, propagate=True)
    except ResultTimeout as error:
        return ServingTimeout(str(error))
    except Exception as error:  # an error the task raised, or the backend's
        return error
    finally:
        with contextlib.suppress(Exception):
            result.forget()


def push_reply(reply_to: str, answer: dict[str, Any]) -> None:
    """Worker side: hand ``answer`` to the web process waiting on ``reply_to``."""
    push_replies([(reply_to, answer)])


def push_replies(replies: list[tuple[str, dict[str, Any]]]) -> None:
    """Worker side: several ``(reply_to, answer)`` in one Redis round trip."""
    for reply_to, _answer in replies:
        if not reply_to.startswith(REPLY_PREFIX):
            raise ValueError(f"reply_to: not a serving reply key: {reply_to!r}")
    if not replies:
        return
    ttl_ms = max(REPLY_TTL_MS_MIN, 2 * settings.SPLITLAB_SERVING_DEADLINE_MS)
    pipe = _redis().pipeline(transaction=False)
    for reply_to, answer in replies:
        pipe.rpush(reply_to, json.dumps(answer, separators=(",", ":")))
        pipe.pexpire(reply_to, ttl_ms)
    pipe.execute()


# One client (and connection pool) per process: web processes and worker children are forked.
_client: tuple[int, Any] | None = None


def _redis() -> Any:
    global _client
    if _client is None or _client[0] != os.getpid():
        import redis

        # A BLPOP returns by the deadline on its own; the socket timeout only bounds a Redis
        # that stopped answering.
        timeout = settings.SPLITLAB_SERVING_DEADLINE_MS / 1000.0 + 1.0
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=settings.CELERY_REDIS_SOCKET_CONNECT_TIMEOUT,
            socket_timeout=timeout,
        )
        _client = (os.getpid(), client)
    return _client[1]


def reset_client() -> None:
    """Forget this process's client (tests that change the broker URL)."""
    global _client
    _client = None
