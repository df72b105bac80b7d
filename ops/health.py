"""``GET /healthz``: is the database answering, is the broker answering, are serving
workers alive (their heartbeats, ``ops.heartbeat``).

503 when the database or the broker is down (this process cannot do its work); 200 with
``status: degraded: serving`` when no serving worker beat recently (recommendations are then
answered from the fallback lists, marked).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def check_database() -> str | None:
    """None when a trivial query succeeds, else the error in one line."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def check_broker() -> str | None:
    """None when the Celery broker accepts a connection, else the error in one line.

    The app is Celery's current one (``config.celery`` sets it as it loads, with the
    settings), so that ``ops``, below ``config``, names no configuration module."""
    from celery import current_app as app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            if settings.CELERY_BROKER_URL.startswith("filesystem"):
                for folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.values():
                    if isinstance(folder, str) and not os.access(folder, os.W_OK):
                        return f"broker folder {folder} is not writable"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def check_serving_workers() -> tuple[str | None, int]:
    """(None, live processes) when at least one serving process beat within the staleness
    bound, else (the problem in one line, 0)."""
    from ops import heartbeat

    try:
        live = heartbeat.live_serving_processes()
    except Exception as exc:
        return f"heartbeats unreadable: {type(exc).__name__}: {exc}".splitlines()[0], 0
    if not live:
        stale = settings.SPLITLAB_HEARTBEAT_STALE_SECONDS
        return f"no serving worker heartbeat within {stale:g} s", 0
    return None, live


def healthz(request: HttpRequest) -> JsonResponse:
    errors = {"database": check_database(), "broker": check_broker()}
    body = {name: ("ok" if error is None else f"down: {error}") for name, error in errors.items()}
    down = [name for name, error in errors.items() if error is not None]
    serving_error, live = check_serving_workers() if not errors["broker"] else ("unknown", 0)
    body["serving"] = f"ok: {live} processes" if serving_error is None else f"down: {serving_error}"
    if down:
        body["status"] = f"down: {', '.join(down)}"
    else:
        body["status"] = "ok" if serving_error is None else "degraded: serving"
    return JsonResponse(body, status=503 if down else 200)
