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
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.models import ApiClient, ApiKey

__all__ = ["ApiKeyAuthentication", "clear_token_cache", "digest_of"]

# digest -> (verified at (monotonic), user, key, expires at (epoch seconds) or inf)
_cache: dict[str, tuple[float, Any, ApiKey, float]] = {}
_lock = threading.Lock()
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
        if cached is not None and now - cached[0] < ttl:
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


def clear_token_cache() -> None:
    with _lock:
        _cache.clear()


def _forget_key(instance: ApiKey, **_: object) -> None:
    with _lock:
        _cache.pop(instance.key_hash, None)


def _forget_where(match: Any) -> None:
    with _lock:
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
