"""Cache invalidation: any saved or deleted row that can change an assignment bumps the
configuration version, however it was written (admin, services, shell, fixtures).

``config_changed`` is sent when this process changed the configuration (once at once, once
more when the transaction commits): the assignment app, which depends on this one and not the
other way round, connects its cache's invalidation to it.

This is bookkeeping for the assignment caches, not business logic: the rules live in
:mod:`experiments.services`.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal

from experiments.models import Experiment, Holdout, Layer, Variant

WATCHED = (Experiment, Variant, Layer, Holdout)

# Sent with sender=ConfigVersion by experiments.services.bump_config_version.
config_changed = Signal()


def _bump(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # loaddata: the rows arrive as they are
        return
    from experiments.services import bump_config_version

    bump_config_version()


def connect() -> None:
    for model in WATCHED:
        post_save.connect(_bump, sender=model, dispatch_uid=f"splitlab-bump-{model.__name__}")
        post_delete.connect(_bump, sender=model, dispatch_uid=f"splitlab-bump-del-{model.__name__}")
