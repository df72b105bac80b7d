"""Shared by the experiment services: the error type, seeds, the audit log, cache bumps."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from experiments.models import AuditLogEntry, ConfigVersion, Experiment
from experiments.signals import config_changed

Status = Experiment.Status
# Experiments that hold a layer range or may (again) receive traffic.
ACTIVE_STATUSES = (Status.DRAFT, Status.RUNNING, Status.PAUSED)


class ExperimentError(ValidationError):
    """A rule of the experiment lifecycle was broken; messages name the field and the rule."""


def draw_seed(prefix: str) -> str:
    """``prefix`` plus a random 32-bit suffix, so similar keys never give similar seeds."""
    return f"{prefix}-{secrets.token_hex(4)}"


def bump_config_version() -> None:
    """Tell every process's assignment cache that the configuration changed.

    Increments the single :class:`ConfigVersion` row with a fresh random token (row-locked by
    the UPDATE until the surrounding transaction commits), and sends ``config_changed`` at
    once and again on commit, so that this process's cache is marked stale at once.
    """
    token = uuid.uuid4().hex
    updated = ConfigVersion.objects.filter(pk=1).update(
        version=F("version") + 1, token=token, updated_at=timezone.now()
    )
    if not updated:
        ConfigVersion.objects.get_or_create(pk=1, defaults={"version": 1, "token": token})
    _send_config_changed()
    transaction.on_commit(_send_config_changed)


def _send_config_changed() -> None:
    config_changed.send(sender=ConfigVersion)


def record_audit(
    actor: Any,
    action: str,
    *,
    experiment: Experiment | None = None,
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditLogEntry:
    """Append who did ``action`` to what, with the changes as ``{field: [before, after]}``."""
    who = actor if getattr(actor, "pk", None) is not None else None
    return AuditLogEntry.objects.create(
        who=who,
        who_name=getattr(actor, "username", "") or "",
        experiment=experiment,
        object_repr=object_repr or (experiment.key if experiment is not None else ""),
        action=action,
        changes=_jsonable(dict(changes or {})),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
