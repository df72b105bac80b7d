"""A Content-Security-Policy header on every response.

Django 5.2 has no built-in CSP (it arrives in 6.0), so a small middleware sets one policy:
scripts, styles, fonts, images and requests only from this origin (report pages load Chart.js
and their scripts from local static files; the Swagger UI page loads its initialisation
script from a URL, ``SpectacularSwaggerSplitView``, instead of inline), no plugins, no
framing. Style attributes stay allowed: the report list draws its meters with them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` to every response that has none (production only:
    settings list this middleware when ``DJANGO_DEBUG`` is off)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
