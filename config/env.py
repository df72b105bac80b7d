"""Reading configuration from the environment, failing with one clear line.

Start-up errors in configuration are raised as :class:`ConfigurationError`; the entry
points (``manage.py``-driven commands, gunicorn, the Celery worker) print its message alone,
naming the variable, instead of a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import environ


class ConfigurationError(SystemExit):
    """A bad or missing environment variable; exits with its message and status 2."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"Configuration error: {variable}: {problem}")


env = environ.Env()

SUPPORTED_DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
SUPPORTED_BROKER_SCHEMES = {"filesystem", "redis", "rediss", "memory"}


# SQLite: a transaction that reads and then writes (every ``atomic`` block that updates) holds
# a shared lock and must upgrade it; two such transactions deadlock and SQLite answers one
# with "database is locked" at once, whatever the busy timeout. ``BEGIN IMMEDIATE`` takes the
# write lock at the start, so writers queue for up to ``timeout`` seconds instead.
SQLITE_OPTIONS = {"timeout": 30, "transaction_mode": "IMMEDIATE"}


def database_from_env(default_sqlite_path: str) -> dict:
    """The ``DATABASES['default']`` entry for ``DATABASE_URL`` (SQLite under var/ if unset)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": default_sqlite_path,
            "OPTIONS": SQLITE_OPTIONS,
        }
    scheme = urlparse(url).scheme
    if scheme not in SUPPORTED_DATABASE_SCHEMES:
        raise ConfigurationError(
            "DATABASE_URL", f"unsupported scheme {scheme!r}; use postgres://... or sqlite:///..."
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for malformed URLs
        raise ConfigurationError("DATABASE_URL", f"cannot parse {url!r}: {exc}") from None
    if config["ENGINE"].endswith("sqlite3"):
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    if config["ENGINE"].endswith("postgresql"):
        config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
    return config


def broker_url_from_env(variable: str, default: str) -> str:
    """A Celery broker or result-backend URL, checked for a scheme Splitlab supports."""
    url = os.environ.get(variable, "").strip() or default
    parsed = urlparse(url)
    if parsed.scheme not in SUPPORTED_BROKER_SCHEMES:
        raise ConfigurationError(
            variable,
            f"unsupported or malformed URL {url!r}; use redis://host:port/db or filesystem://",
        )
    if parsed.scheme.startswith("redis"):
        try:
            parsed.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise ConfigurationError(variable, f"malformed port in {url!r}") from None
        if not parsed.hostname:
            raise ConfigurationError(variable, f"no host in {url!r}")
    return url


def result_backend_from_env(broker_url: str, results_dir: Path) -> str:
    """``CELERY_RESULT_BACKEND``; defaults to the broker's Redis, or files under var/."""
    url = os.environ.get("CELERY_RESULT_BACKEND", "").strip()
    if not url:
        if broker_url.startswith("redis"):
            return broker_url
        results_dir.mkdir(parents=True, exist_ok=True)
        return f"file://{results_dir}"
    if url.startswith("file://"):
        return url
    return broker_url_from_env("CELERY_RESULT_BACKEND", default=url)


def cache_from_env(variable: str = "SPLITLAB_CACHE_URL") -> dict:
    """``CACHES['default']``: Redis at ``redis://host:port/db`` (production: the throttle's
    buckets are then shared by every process), or this process's memory when unset."""
    url = os.environ.get(variable, "").strip()
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if urlparse(url).scheme not in {"redis", "rediss"}:
        raise ConfigurationError(variable, f"unsupported URL {url!r}; use redis://host:port/db")
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "splitlab",
        "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
    }


def throttle_rates_from_env(variable: str, default: str) -> dict[str, dict[str, float] | None]:
    """Per-scope limits from ``scope=rate/burst`` items, comma separated, e.g.
    ``serve=2000/4000,analyze=50/200``; ``scope=off`` removes a scope's limit."""
    text = os.environ.get(variable, "").strip() or default
    rates: dict[str, dict[str, float] | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        scope, _, value = item.partition("=")
        try:
            if value.strip() == "off":
                rates[scope.strip()] = None
                continue
            rate, _, burst = value.partition("/")
            limit = {"rate": float(rate), "burst": float(burst or rate)}
        except ValueError:
            raise ConfigurationError(variable, f"{item!r}: expected scope=rate/burst") from None
        if limit["rate"] <= 0 or limit["burst"] < 1:
            raise ConfigurationError(variable, f"{item!r}: rate must be > 0 and burst >= 1")
        rates[scope.strip()] = limit
    return rates
