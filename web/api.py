"""API-wide behaviour: error format and the trivial endpoint used as a benchmark reference."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

DATABASE_RETRY_AFTER_SECONDS = 5


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with malformed JSON reported as a 400 that says so, Django's
    request-size limits answered in JSON (Django's own answer is an empty HTML page), and an
    unreachable database answered 503 with ``Retry-After`` instead of a 500."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"request body: larger than {limit} bytes; send it in smaller parts"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response(
            {"detail": f"more than {limit} fields in the query string or form body"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable. A service that writes runs in one transaction, so
        # nothing was stored unless the link broke during the commit itself; the writes a
        # client retries (events by event_id) are idempotent, so it sends the same again.
        return Response(
            {"detail": "database unavailable; send the same request again later"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ParseError):
        response.data = {"detail": f"request body: {exc.detail}"}
    return response


class PingView(APIView):
    """``GET /api/v1/ping``: the smallest authenticated endpoint (benchmark reference)."""

    @extend_schema(
        responses=inline_serializer("Pong", fields={"pong": serializers.BooleanField()}),
        summary="Authenticated no-op (benchmark reference)",
    )
    def get(self, request: Request) -> Response:
        return Response({"pong": True}, status=status.HTTP_200_OK)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: JSON on API paths (a client parses it), the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": f"no API endpoint at {request.path}; the endpoints are in /api/schema/"},
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: JSON on API paths, the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "internal error; it has been logged"}, status=500)
    return defaults.server_error(request)
