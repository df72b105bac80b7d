"""API token authentication that does not query the database on every request.

DRF's ``TokenAuthentication`` reads the token and its user from the database for each
request: on the hot read paths (assignment, recommendations) that round trip is a large part
of the web process's work. :class:`CachedTokenAuthentication` remembers, per process, the
user of a token it has verified for ``SPLITLAB_TOKEN_CACHE_SECONDS`` (0 turns it off). A
deleted token or a deactivated user is refused by the process that made the change at once
(signals below) and by every other process within those seconds. Unknown tokens are never
cached, so a token created a moment ago works at once. While the database is unreachable a
token verified before keeps its cached user.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

__all__ = ["CachedTokenAuthentication", "clear_token_cache"]

_cache: dict[str, tuple[float, Any, Token]] = {}  # key -> (verified at, user, token)
_lock = threading.Lock()
MAX_CACHED_TOKENS = 10_000


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        ttl = settings.SPLITLAB_TOKEN_CACHE_SECONDS
        if ttl <= 0:
            return super().authenticate_credentials(key)
        now = time.monotonic()
        cached = _cache.get(key)
        if cached is not None and now - cached[0] < ttl:
            return cached[1], cached[2]
        try:
            user, token = super().authenticate_credentials(key)  # raises: unknown or inactive
        except DatabaseError:
            if cached is None:
                raise
            # The database is unreachable: a token verified before keeps working until it
            # can be checked again (assignment answers from memory during an outage).
            return cached[1], cached[2]
        with _lock:
            if len(_cache) >= MAX_CACHED_TOKENS:
                _cache.clear()
            _cache[key] = (now, user, token)
        return user, token


def clear_token_cache() -> None:
    with _lock:
        _cache.clear()


def _forget_token(instance: Token, **_: object) -> None:
    with _lock:
        _cache.pop(instance.key, None)


def _forget_user_tokens(instance: Any, **_: object) -> None:
    with _lock:
        for key in [k for k, entry in _cache.items() if entry[1].pk == instance.pk]:
            del _cache[key]


post_delete.connect(_forget_token, sender=Token, dispatch_uid="splitlab-token-deleted")
post_save.connect(_forget_token, sender=Token, dispatch_uid="splitlab-token-saved")
post_save.connect(
    _forget_user_tokens, sender=get_user_model(), dispatch_uid="splitlab-token-user-saved"
)
post_delete.connect(
    _forget_user_tokens, sender=get_user_model(), dispatch_uid="splitlab-token-user-deleted"
)
