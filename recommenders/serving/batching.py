"""Micro-batching on the serving worker: requests that wait for a busy pool leave together.

With a Redis broker a recommendation request travels as the ``recommenders.serve`` task
(:data:`SERVE_TASK`), whose message body is the request itself, a small JSON object
(:func:`request_message`), sent by ``transport`` without Celery's task envelope. On the
worker, Celery hands each message of a task to that task's *strategy*, the function its main
process runs per message (``celery.worker.strategy``). :func:`batching_strategy` replaces the
default one for this task:

- the message is acknowledged at once: a serving request is never redelivered, since nobody
  would be waiting for its answer;
- the request joins a queue, and the queue goes to the pool whenever a slot is free, at most
  ``SPLITLAB_SERVING_BATCH_MAX`` requests per dispatch. There is no timer: at low load a
  request finds a free slot and leaves at once, alone; under load the requests that arrive
  while every slot works leave together with the next free slot, so a request waits at most
  one batch's work;
- a request whose deadline passed while it waited is dropped (its client has its fallback).

In the pool, :func:`serve_batch` answers each request with the warm model, exactly as one
request is answered (``worker.recommend_with_warm_model``, so a batched list is the list the
same request gets alone), and pushes every reply in one Redis round trip. What a batch saves
is the carrying: one dispatch to the pool, one trace, one reply round trip for all of them.
The models' own work stays per request: scoring a batch of users with one matrix product
would not give bit-identical lists (BLAS rounds a matrix product differently from a
matrix-vector one), for a saving of about 0.02 ms per request on ALS over ML-1M.

Pools: ``prefork`` (the default) and ``threads`` batch; ``solo`` runs each dispatch in the
consumer itself, so nothing arrives while it works and every batch holds one request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

__all__ = ["SERVE_TASK", "Batcher", "batching_strategy", "request_message", "serve_batch"]

SERVE_TASK = "recommenders.serve"


def request_message(
    config_id: int, user_id: str, k: int, context: dict[str, Any], reply_to: str, until: float
) -> bytes:
    """The body of one ``serve`` message: the request, its reply key and the wall-clock
    time (``until``, unix seconds) after which nobody waits for its answer."""
    request = {
        "config_id": config_id,
        "user_id": user_id,
        "k": k,
        "context": context,
        "reply_to": reply_to,
        "until": until,
    }
    return json.dumps(request, separators=(",", ":")).encode()


# --- the worker's main process ---------------------------------------------------------------
class Batcher:
    """The requests waiting for a pool slot, and the dispatch of batches to the pool.

    ``pool`` is Celery's task pool (``apply_async(target, args, callback, error_callback)``),
    ``slots`` how many dispatches it runs at once. Callbacks may come from another thread
    (the ``threads`` pool), hence the lock.
    """

    def __init__(self, pool: Any, slots: int, batch_max: int) -> None:
        self.pool, self.slots, self.batch_max = pool, max(1, slots), max(1, batch_max)
        self.waiting: deque[dict[str, Any]] = deque()
        self.in_flight = 0
        self._lock = threading.Lock()

    def add(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.waiting.append(request)
        self._dispatch()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self.in_flight >= self.slots:
                    return
                batch = self._take()
                if not batch:
                    return
                self.in_flight += 1
            try:
                self.pool.apply_async(
                    serve_batch, args=(batch,), callback=self._done, error_callback=self._done
                )
            except Exception:  # the pool refused (shutting down): nobody gets an answer
                logger.exception("serving batch of %d not dispatched", len(batch))
                self._release()

    def _take(self) -> list[dict[str, Any]]:
        """Up to ``batch_max`` waiting requests still awaited (the lock is held)."""
        now, batch = time.time(), []
        while self.waiting and len(batch) < self.batch_max:
            request = self.waiting.popleft()
            if request.get("until", 0) >= now:
                batch.append(request)
        return batch

    def _done(self, _result: Any) -> None:
        self._release()
        self._dispatch()

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1


def batching_strategy(task: Any, app: Any, consumer: Any, **_: Any) -> Any:
    """The ``serve`` task's strategy (``Task.Strategy``): called once per consumer start,
    returns the handler Celery calls with each of the task's messages."""
    pool = consumer.pool
    slots = getattr(pool, "limit", None) or getattr(pool, "num_processes", None) or 1
    batcher = Batcher(pool, int(slots), settings.SPLITLAB_SERVING_BATCH_MAX)
    connection_errors = consumer.connection_errors

    def on_message(message: Any, _payload: Any, ack: Any, _reject: Any, _callbacks: Any) -> None:
        # An exception here would stop the worker's consumer: none may leave.
        try:
            ack(logger, connection_errors)
            request = json.loads(message.body)
            if not isinstance(request, dict):
                raise ValueError(f"a JSON object was expected, not {type(request).__name__}")
            batcher.add(request)
        except Exception as error:
            logger.warning("serving message dropped: %s: %s", type(error).__name__, error)

    return on_message


# --- the pool ------------------------------------------------------------------------------
def serve_batch(requests: list[dict[str, Any]]) -> int:
    """Answer each request and push the replies in one round trip; returns how many were
    answered. Never raises: a request that fails is answered ``worker_error``."""
    from recommenders.serving.transport import push_replies
    from recommenders.serving.worker import recommend_with_warm_model

    replies: list[tuple[str, dict[str, Any]]] = []
    for request in requests:
        reply_to = request.get("reply_to")
        if not isinstance(reply_to, str):
            continue
        try:
            answer = recommend_with_warm_model(
                int(request["config_id"]),
                str(request["user_id"]),
                int(request["k"]),
                dict(request.get("context") or {}),
            )
        except Exception as error:
            logger.exception("serving request for config %s failed", request.get("config_id"))
            answer = {"status": "worker_error", "detail": type(error).__name__}
        replies.append((reply_to, answer))
    try:
        push_replies(replies)
    except Exception:
        logger.exception("%d serving replies not delivered", len(replies))
        return 0
    return len(replies)
