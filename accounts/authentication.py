"""API key authentication that does not query the database on every request.

A request sends ``Authorization: Token <key>``; the key's SHA-256 digest is looked up in
:class:`~accounts.models.ApiKey` (only the digest is stored). On the hot read paths
(assignment, recommendations) that round trip is a large part of the web process's work, so
:class:`ApiKeyAuthentication` remembers, per process, a key it has verified for
``SPLITLAB_TOKEN_CACHE_SECONDS`` (0 turns it off). A revoked or deleted key, a client whose
scopes changed, or a deactivated user is seen by the process that made the change at once
(signals below) and by every other process within those seconds. Expiry needs no database:
a remembered key's ``expires_at`` is compared with the clock on each request. Unknown keys are
never remembered, so a key issued a moment ago works at once. While the database is
unreachable a key verified before keeps working until it can be checked again.

With background threads (``SPLITLAB_BACKGROUND_THREADS``) the process's refresher
(``web.background``) reads every valid key in one query each half of those seconds
(:func:`refresh_token_cache`) and replaces what is remembered: a request with a known key
then never waits for the database, even on its process's first request, and a key revoked
elsewhere is dropped within the TTL (while the database answers) and refused by the next
request's own read.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.models import ApiClient, ApiKey
from web import background

__all__ = ["ApiKeyAuthentication", "clear_token_cache", "digest_of", "refresh_token_cache"]

# digest -> (verified at (monotonic), user, key, expires at (epoch seconds) or inf)
_cache: dict[str, tuple[float, Any, ApiKey, float]] = {}
_lock = threading.Lock()
_changes = 0  # bumped by every forget: a refresh that read before a change must not undo it
MAX_CACHED_TOKENS = 10_000


def digest_of(key: str) -> str:
    """SHA-256 of the key, as 64 hex digits (what the database stores)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _expiry_epoch(key: ApiKey) -> float:
    ends = [t.timestamp() for t in (key.expires_at, key.revoked_at) if t is not None]
    return min(ends, default=float("inf"))


class ApiKeyAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``; ``request.auth`` is the :class:`ApiKey`."""

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiKey]:
        digest = digest_of(key)
        ttl = settings.SPLITLAB_TOKEN_CACHE_SECONDS
        now = time.monotonic()
        cached = _cache.get(digest) if ttl > 0 else None
        # Past the TTL, the refresher (when running) re-reads it: no query in the request.
        if cached is not None and (now - cached[0] < ttl or background.running()):
            if time.time() >= cached[3]:
                raise exceptions.AuthenticationFailed("API key expired or revoked.")
            return cached[1], cached[2]
        try:
            api_key = self._load(digest)
        except DatabaseError:
            if cached is None or time.time() >= cached[3]:
                raise
            # The database is unreachable: a key verified before keeps working until it can
            # be checked again (assignment answers from memory during an outage).
            return cached[1], cached[2]
        if ttl > 0:
            with _lock:
                if len(_cache) >= MAX_CACHED_TOKENS:
                    _cache.clear()
                _cache[digest] = (now, api_key.client.user, api_key, _expiry_epoch(api_key))
        return api_key.client.user, api_key

    @staticmethod
    def _load(digest: str) -> ApiKey:
        try:
            api_key = ApiKey.objects.select_related("client__user").get(key_hash=digest)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not api_key.client.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if not api_key.is_valid_at(timezone.now()):
            raise exceptions.AuthenticationFailed("API key expired or revoked.")
        return api_key


def refresh_token_cache() -> int:
    """Replace the remembered keys by every key valid now (not revoked, not expired, of an
    active user), read in one query, at most ``MAX_CACHED_TOKENS``, newest first; returns how
    many. The refresher's job, every half ``SPLITLAB_TOKEN_CACHE_SECONDS``."""
    if settings.SPLITLAB_TOKEN_CACHE_SECONDS <= 0:
        return 0
    changes = _changes
    now = timezone.now()
    rows = (
        ApiKey.objects.select_related("client__user")
        .filter(client__user__is_active=True)
        .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=now))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at", "-id")[:MAX_CACHED_TOKENS]
    )
    verified_at = time.monotonic()
    fresh = {key.key_hash: (verified_at, key.client.user, key, _expiry_epoch(key)) for key in rows}
    with _lock:
        if changes != _changes:  # a key, client or user changed meanwhile: next turn
            return 0
        _cache.clear()
        _cache.update(fresh)
    return len(fresh)


def clear_token_cache() -> None:
    global _changes
    with _lock:
        _changes += 1
        _cache.clear()


def _forget_key(instance: ApiKey, **_: object) -> None:
    global _changes
    with _lock:
        _changes += 1
        _cache.pop(instance.key_hash, None)


def _forget_where(match: Any) -> None:
    global _changes
    with _lock:
        _changes += 1
        for digest in [d for d, entry in _cache.items() if match(entry)]:
            del _cache[digest]


def _forget_client_keys(instance: ApiClient, **_: object) -> None:
    _forget_where(lambda entry: entry[2].client_id == instance.pk)


def _forget_user_keys(instance: Any, **_: object) -> None:
    _forget_where(lambda entry: entry[1].pk == instance.pk)


post_delete.connect(_forget_key, sender=ApiKey, dispatch_uid="splitlab-key-deleted")
post_save.connect(_forget_key, sender=ApiKey, dispatch_uid="splitlab-key-saved")
post_save.connect(_forget_client_keys, sender=ApiClient, dispatch_uid="splitlab-client-saved")
post_delete.connect(_forget_client_keys, sender=ApiClient, dispatch_uid="splitlab-client-deleted")
post_save.connect(
    _forget_user_keys, sender=get_user_model(), dispatch_uid="splitlab-token-user-saved"
)
post_delete.connect(
    _forget_user_keys, sender=get_user_model(), dispatch_uid="splitlab-token-user-deleted"
)
