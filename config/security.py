"""Production hardening that Django does not ship: the secret key's checks at start-up and
a Content-Security-Policy header on every response.

Django 5.2 has no built-in CSP (it arrives in 6.0), so a small middleware sets one policy:
scripts, styles, fonts, images and requests only from this origin (report pages load Chart.js
and their scripts from local static files; the Swagger UI page loads its initialisation
script from a URL, ``SpectacularSwaggerSplitView``, instead of inline), no plugins, no
framing. Style attributes stay allowed: the report list draws its meters with them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config.env import ConfigurationError, env

# Django's own check (security.W009) asks for at least 50 characters and 5 distinct ones.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5
DEBUG_SECRET_KEY = "insecure-development-key-only-used-with-DJANGO_DEBUG-on"  # noqa: S105
# Keys published in this repository or its documentation: never a production secret.
KNOWN_SECRET_KEYS = frozenset(
    {
        DEBUG_SECRET_KEY,
        "...",
        "changeme",
        "secret",
    }
)

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


def secret_key_from_env(debug: bool) -> str:
    """``DJANGO_SECRET_KEY``, refused at start-up in production when missing, short (fewer
    than 50 characters or 5 distinct ones), Django's generated-insecure prefix, or a key
    published here; in debug mode a missing key is replaced by a fixed development key."""
    key = env.str("DJANGO_SECRET_KEY", default="")
    if debug:
        return key or DEBUG_SECRET_KEY
    if not key:
        raise ConfigurationError(
            "DJANGO_SECRET_KEY", "must be set when DJANGO_DEBUG is off (it signs sessions)"
        )
    if key in KNOWN_SECRET_KEYS or key.startswith("django-insecure"):
        raise ConfigurationError(
            "DJANGO_SECRET_KEY", "is a published or default key; generate a random one"
        )
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE:
        raise ConfigurationError(
            "DJANGO_SECRET_KEY",
            f"must be at least {SECRET_KEY_MIN_LENGTH} random characters when DJANGO_DEBUG is "
            "off (python -c 'import secrets; print(secrets.token_urlsafe(50))')",
        )
    return key


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` to every response that has none (production only:
    settings list this middleware when ``DJANGO_DEBUG`` is off)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
