"""Serving workers' heartbeats: is any process there to answer recommendation requests?

Every worker process that consumes the ``serving`` queue (each prefork child, or the worker
itself with the ``solo``/``threads`` pools) refreshes a heartbeat every
``SPLITLAB_HEARTBEAT_SECONDS`` from a daemon thread started after the fork; ``/healthz``
counts the heartbeats younger than ``SPLITLAB_HEARTBEAT_STALE_SECONDS``. A killed child, a
dead worker or a stopped host stops beating, and ``/healthz`` says so within that bound, where
before it checked only that the broker answered (and kept saying ok while every request fell
back). A child stuck inside one task keeps beating: the deadline and fallbacks cover that.

Where: a Redis sorted set beside the broker (member: host and pid, score: the beat's Unix
time) when the broker is Redis; files under ``SPLITLAB_VAR_DIR/heartbeats`` (their mtime)
with the embedded broker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

REDIS_KEY = "splitlab:heartbeat:serving"
# Heartbeats older than this are deleted by the readers (a process gone for good).
FORGET_AFTER_SECONDS = 300.0

# Set in the worker's main process before it forks (``celeryd_init``): whether this worker
# consumes the serving queue, so that its children beat.
consumes_serving = False
_started_in_pid: int | None = None


def _member() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _uses_redis() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://"))


def _folder() -> Path:
    return Path(settings.VAR_DIR) / "heartbeats"


_redis_client: tuple[int, Any] | None = None


def _redis() -> Any:
    """One Redis client per process, failing fast (a health check must answer quickly)."""
    global _redis_client
    if _redis_client is None or _redis_client[0] != os.getpid():
        import redis

        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=settings.CELERY_REDIS_SOCKET_CONNECT_TIMEOUT,
            socket_timeout=settings.CELERY_REDIS_SOCKET_CONNECT_TIMEOUT,
        )
        _redis_client = (os.getpid(), client)
    return _redis_client[1]


def beat(now: float | None = None) -> None:
    """Record that this process is alive at ``now`` (Unix seconds)."""
    now = time.time() if now is None else now
    if _uses_redis():
        _redis().zadd(REDIS_KEY, {_member(): now})
        return
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"serving-{_member().replace(':', '-')}"
    path.touch()
    os.utime(path, (now, now))


def forget() -> None:
    """Remove this process's heartbeat (a clean exit: no need to wait for it to go stale)."""
    try:
        if _uses_redis():
            _redis().zrem(REDIS_KEY, _member())
        else:
            (_folder() / f"serving-{_member().replace(':', '-')}").unlink(missing_ok=True)
    except Exception:  # best effort: the heartbeat goes stale anyway
        logger.debug("could not remove the heartbeat", exc_info=True)


def live_serving_processes(now: float | None = None) -> int:
    """How many serving processes beat within the staleness bound. Raises on a Redis error."""
    now = time.time() if now is None else now
    stale_before = now - settings.SPLITLAB_HEARTBEAT_STALE_SECONDS
    if _uses_redis():
        client = _redis()
        client.zremrangebyscore(REDIS_KEY, "-inf", now - FORGET_AFTER_SECONDS)
        return int(client.zcount(REDIS_KEY, stale_before, "+inf"))
    live = 0
    for path in _folder().glob("serving-*") if _folder().is_dir() else ():
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age > FORGET_AFTER_SECONDS:
            path.unlink(missing_ok=True)
        elif age <= settings.SPLITLAB_HEARTBEAT_STALE_SECONDS:
            live += 1
    return live


def start_beating() -> None:
    """In a serving worker process after the fork: beat now and then from a daemon thread."""
    global _started_in_pid
    if _started_in_pid == os.getpid():
        return
    _started_in_pid = os.getpid()
    interval = float(settings.SPLITLAB_HEARTBEAT_SECONDS)

    def loop() -> None:
        while True:
            try:
                beat()
            except Exception as error:  # Redis down: beat again when it is back
                logger.debug("heartbeat not written: %s", error)
            time.sleep(interval)

    threading.Thread(target=loop, name="serving-heartbeat", daemon=True).start()
