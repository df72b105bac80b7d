"""The secret key's checks at start-up: production refuses to start without a real one
(the Content-Security-Policy header, the other hardening Django does not ship, is
:mod:`web.csp`)."""

from __future__ import annotations

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
