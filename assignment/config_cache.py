"""Each process's cached copy of the experiments' configuration, compiled for hashing.

The hot path reads a :class:`ConfigSnapshot` from memory. Every half
``SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS`` (default 2 s) the process's refresher thread
(``web.background``) reads the single ``ConfigVersion`` row (one indexed primary-key query);
when its token differs from the snapshot's, the snapshot is rebuilt (two queries). Without the
refresher (``SPLITLAB_BACKGROUND_THREADS=false``) the request that finds the TTL expired does
it. Changes made in this process (admin, services) invalidate the local copy at once, and
again when their transaction commits. So other processes see an admin change within the TTL
(while the database answers), and a request pays no query except on a cold start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from assignment.engine import CompiledExperiment, CompiledHoldout
from experiments.models import ConfigVersion, Experiment, Holdout
from experiments.signals import config_changed
from web import background

__all__ = ["ConfigSnapshot", "connect", "get_snapshot", "invalidate_local", "refresh"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfigSnapshot:
    """Every experiment (any status) by key, the running ones, and the active holdout."""

    token: str
    experiments: dict[str, CompiledExperiment]
    running: tuple[CompiledExperiment, ...]
    holdout: CompiledHoldout | None
    by_surface: dict[str, tuple[CompiledExperiment, ...]] = field(default_factory=dict)
    loaded_at: float = 0.0


def _compile(experiment: Any) -> CompiledExperiment | None:
    variants = list(experiment.variants.all())
    if not variants:
        return None  # a draft still being written; nothing to serve
    keys = tuple(v.key for v in variants)
    index_of = {key: i for i, key in enumerate(keys)}
    controls = [i for i, v in enumerate(variants) if v.is_control]
    overrides = experiment.qa_overrides if isinstance(experiment.qa_overrides, dict) else {}
    layer = experiment.layer
    return CompiledExperiment(
        id=experiment.pk,
        key=experiment.key,
        status=experiment.status,
        phase=experiment.current_phase,
        seed=experiment.effective_seed,
        hash_version=experiment.hash_version,
        coverage=experiment.coverage,
        variant_keys=keys,
        variant_ids=tuple(v.pk for v in variants),
        variant_weights=tuple(max(v.weight, 0.0) for v in variants),
        recommender_config_ids=tuple(v.recommender_config_id for v in variants),
        control_index=controls[0] if controls else 0,
        layer_id=experiment.layer_id,
        layer_seed=layer.effective_seed if layer is not None else None,
        layer_start=experiment.layer_start,
        layer_end=experiment.layer_end,
        targeting=experiment.targeting if isinstance(experiment.targeting, dict) else {},
        overrides={str(user): index_of[key] for user, key in overrides.items() if key in index_of},
        surface=experiment.surface,
        started_at=experiment.started_at.timestamp() if experiment.started_at else None,
        interleaving=experiment.kind == Experiment.Kind.INTERLEAVING,
        segment_attributes=tuple(experiment.segment_attributes or ()),
    )


def _current_token() -> str:
    row = ConfigVersion.objects.filter(pk=1).values_list("version", "token").first()
    return "none" if row is None else f"{row[0]}:{row[1]}"


def _load(token: str) -> ConfigSnapshot:
    compiled = []
    queryset = Experiment.objects.select_related("layer").prefetch_related("variants")
    for experiment in queryset.order_by("started_at", "pk"):
        item = _compile(experiment)
        if item is not None:
            compiled.append(item)
    holdout_row = Holdout.objects.filter(is_active=True).first()
    holdout = (
        CompiledHoldout(id=holdout_row.pk, seed=holdout_row.seed, share=holdout_row.share)
        if holdout_row is not None
        else None
    )
    running = tuple(e for e in compiled if e.is_running)
    by_surface: dict[str, list[CompiledExperiment]] = {}
    for experiment in running:
        if experiment.surface:
            by_surface.setdefault(experiment.surface, []).append(experiment)
    return ConfigSnapshot(
        token=token,
        experiments={e.key: e for e in compiled},
        running=running,
        holdout=holdout,
        by_surface={k: tuple(v) for k, v in by_surface.items()},
        loaded_at=time.time(),
    )


class _Cache:
    def __init__(self) -> None:
        self.snapshot: ConfigSnapshot | None = None
        self.checked_at = float("-inf")
        self.dirty = True
        self.force_reload = True
        self.lock = threading.Lock()
        self.listeners: list[Any] = []

    def get(self) -> ConfigSnapshot:
        snapshot = self.snapshot
        if (
            snapshot is not None
            and not self.dirty
            and (
                time.monotonic() - self.checked_at < settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS
                or background.running()  # the refresher replaces it; no query in the request
            )
        ):
            return snapshot
        with self.lock:
            return self._refresh()

    def refresh(self) -> None:
        """The refresher's job: check the token (and reload on a change) now."""
        with self.lock:
            self._refresh()

    def _refresh(self) -> ConfigSnapshot:
        force, self.force_reload, self.dirty = self.force_reload, False, False
        try:
            token = _current_token()
        except DatabaseError:
            if self.snapshot is None:
                raise
            # The database is unreachable: keep answering from the configuration in memory
            # (assignment needs nothing else) and try again after the TTL.
            logger.warning("assignment config not refreshed (database error); kept")
            self.checked_at = time.monotonic()
            self.force_reload, self.dirty = force, False
            return self.snapshot
        self.checked_at = time.monotonic()
        if force or self.snapshot is None or token != self.snapshot.token:
            self.snapshot = _load(token)
            logger.debug("assignment config reloaded (token %s)", token)
            for listener in self.listeners:
                listener(self.snapshot)
        return self.snapshot


_cache = _Cache()


def get_snapshot() -> ConfigSnapshot:
    """The current configuration (from memory, or refreshed if the TTL expired)."""
    return _cache.get()


def refresh() -> None:
    """Check the stored configuration's token now and reload on a change (the refresher's
    job, every half TTL)."""
    _cache.refresh()


def invalidate_local() -> None:
    """Make the next :func:`get_snapshot` of this process reload, whatever the token says
    (a rolled-back change can leave the token as it was while the rows changed)."""
    _cache.force_reload = True
    _cache.dirty = True


def _invalidate_on_change(sender: Any, **kwargs: Any) -> None:
    invalidate_local()


def connect() -> None:
    """Invalidate this process's copy whenever the experiments app says it changed the
    configuration (its ``config_changed`` signal)."""
    config_changed.connect(_invalidate_on_change, dispatch_uid="splitlab-assignment-config")


def add_reload_listener(listener: Any) -> None:
    """Call ``listener(snapshot)`` after every reload (the exposure log clears its memory)."""
    _cache.listeners.append(listener)
