"""Writes for accounts: API clients are users without a password, holding one token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def create_api_client(name: str) -> tuple[str, bool]:
    """Create the client ``name`` (idempotent); returns its token key and whether it is new."""
    name = name.strip()
    if not name:
        raise ValueError("name: must not be empty")
    user, user_created = get_user_model().objects.get_or_create(
        username=f"client:{name}"[:150], defaults={"is_active": True}
    )
    if user_created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    token, token_created = Token.objects.get_or_create(user=user)
    return token.key, token_created


@transaction.atomic
def ensure_admin_user(username: str, password: str, email: str = "") -> bool:
    """Create a superuser if none with this name exists; True when created."""
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return False
    user_model.objects.create_superuser(username=username, email=email, password=password)
    return True
