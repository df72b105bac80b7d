"""``GET /healthz``: is the database answering, is the broker answering."""

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
    """None when the Celery broker accepts a connection, else the error in one line."""
    from config.celery import app

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


def healthz(request: HttpRequest) -> JsonResponse:
    errors = {"database": check_database(), "broker": check_broker()}
    body = {name: ("ok" if error is None else f"down: {error}") for name, error in errors.items()}
    down = [name for name, error in errors.items() if error is not None]
    body["status"] = "ok" if not down else f"down: {', '.join(down)}"
    return JsonResponse(body, status=503 if down else 200)
