"""Request checks for API paths that must happen before Django reads the request.

* ``Transfer-Encoding: chunked``: Django reads ``CONTENT_LENGTH`` bytes of a body, so a chunked
  body (no length; gunicorn de-chunks ``wsgi.input``) was read as empty. It is read here up to
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413 beyond) and handed on with its length.
* A query string that is not UTF-8 once percent-decoded was decoded with replacement
  characters and accepted, while the JSON parser refuses the same bytes: 400 naming it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

__all__ = ["ApiRequestMiddleware", "query_string_problem"]


def query_string_problem(query: str) -> str | None:
    """Why a WSGI ``QUERY_STRING`` is not UTF-8 text, or None when it is."""
    try:
        raw = query.encode("latin-1")  # PEP 3333: the bytes as latin-1 code points
    except UnicodeEncodeError:
        try:
            raw = query.encode("utf-8")
        except UnicodeEncodeError:
            return "query string: not Unicode text (an unpaired surrogate)"
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as error:
        return f"query string: not UTF-8 once percent-decoded (byte {error.start}: {error.reason})"
    return None


class ApiRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            problem = query_string_problem(request.META.get("QUERY_STRING", ""))
            if problem is not None:
                return JsonResponse({"detail": problem}, status=400)
            encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            if "chunked" in encoding:
                refused = self._read_chunked(request)
                if refused is not None:
                    return refused
        return self.get_response(request)

    @staticmethod
    def _read_chunked(request: HttpRequest) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        source = request.META["wsgi.input"]
        body = source.read(limit + 1) if limit is not None else source.read()
        if limit is not None and len(body) > limit:
            return JsonResponse(
                {"detail": f"request body: larger than {limit} bytes; send it in smaller parts"},
                status=413,
            )
        request.META["CONTENT_LENGTH"] = str(len(body))
        request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[attr-defined]
        request._read_started = False  # type: ignore[attr-defined]
        return None
