"""Writes for accounts: API clients (users without a password) and their keys.

A key is returned once, by the call that issues it; only its SHA-256 digest is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.authentication import digest_of
from accounts.models import ApiClient, ApiKey
from accounts.scopes import ALL_SCOPES, parse_scopes

__all__ = [
    "create_api_client",
    "do_issue_api_key",
    "do_revoke_api_client",
    "do_rotate_api_key",
    "ensure_admin_user",
    "new_raw_key",
]


def new_raw_key() -> str:
    """40 hex digits: 160 random bits (the format DRF's tokens had)."""
    return secrets.token_hex(20)


def _client_named(name: str) -> ApiClient:
    try:
        return ApiClient.objects.select_for_update().get(name=name)
    except ApiClient.DoesNotExist:
        raise ValueError(f"name: no API client {name!r}") from None


def do_issue_api_key(client: ApiClient, *, lifetime: timedelta | None = None) -> str:
    """Store a new key of ``client`` (its digest) and return the key itself, once."""
    raw = new_raw_key()
    expires_at = timezone.now() + lifetime if lifetime is not None else None
    ApiKey.objects.create(
        client=client, prefix=raw[:8], key_hash=digest_of(raw), expires_at=expires_at
    )
    return raw


@transaction.atomic
def create_api_client(
    name: str,
    *,
    scopes: Iterable[str] | None = None,
    lifetime: timedelta | None = None,
) -> tuple[str, bool]:
    """Create the client ``name`` with ``scopes`` (default: all) and issue it a key.

    Returns ``(key, created)``. For an existing client a further key is issued (the keys it
    holds stay valid: keys are stored hashed, so an old one cannot be shown again) and its
    scopes are replaced when ``scopes`` is given. ``lifetime``: the key expires after it.
    Raises ``ValueError`` naming the problem (empty name, unknown scope, lifetime <= 0).
    """
    name = name.strip()
    if not name:
        raise ValueError("name: must not be empty")
    if len(name) > 100:
        raise ValueError("name: at most 100 characters")
    chosen = parse_scopes(scopes) if scopes is not None else list(ALL_SCOPES)
    if lifetime is not None and lifetime <= timedelta(0):
        raise ValueError("lifetime: must be positive")
    client = ApiClient.objects.select_for_update().filter(name=name).first()
    created = client is None
    if client is None:
        user, _ = get_user_model().objects.get_or_create(
            username=f"client:{name}"[:150], defaults={"is_active": True}
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        client = ApiClient.objects.create(user=user, name=name, scopes=chosen)
    elif scopes is not None and client.scopes != chosen:
        client.scopes = chosen
        client.save(update_fields=["scopes"])
    return do_issue_api_key(client, lifetime=lifetime), created


@transaction.atomic
def do_rotate_api_key(
    name: str, *, overlap: timedelta, lifetime: timedelta | None = None
) -> tuple[str, datetime]:
    """Issue a new key for client ``name``; its other keys stop working after ``overlap``.

    Returns the new key and when the old ones end. Locks the client row, so two rotations
    of one client run one after the other.
    """
    if overlap < timedelta(0):
        raise ValueError("overlap: must not be negative")
    client = _client_named(name)
    ends = timezone.now() + overlap
    for key in client.keys.filter(revoked_at__isnull=True):
        if key.expires_at is None or key.expires_at > ends:
            key.expires_at = ends
            key.save(update_fields=["expires_at"])  # signals drop it from this process's cache
    return do_issue_api_key(client, lifetime=lifetime), ends


@transaction.atomic
def do_revoke_api_client(name: str) -> int:
    """Revoke every key of client ``name`` now; returns how many were valid."""
    client = _client_named(name)
    now = timezone.now()
    revoked = 0
    for key in client.keys.filter(revoked_at__isnull=True):
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        revoked += 1
    return revoked


@transaction.atomic
def ensure_admin_user(username: str, password: str, email: str = "") -> bool:
    """Create a superuser if none with this name exists; True when created."""
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return False
    user_model.objects.create_superuser(username=username, email=email, password=password)
    return True
