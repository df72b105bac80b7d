"""Reads for assignment: cached running experiments (no query per call) and exposure counts."""

from __future__ import annotations

from django.db.models import Count

from assignment.config_cache import get_snapshot
from assignment.engine import CompiledExperiment, CompiledHoldout
from assignment.models import Exposure, HoldoutExposure

__all__ = [
    "active_holdout",
    "cached_experiment",
    "exposure_counts",
    "holdout_exposure_counts",
    "running_experiment_for_surface",
    "running_experiments",
    "running_experiments_for_surface",
]


def running_experiments() -> tuple[CompiledExperiment, ...]:
    """Every running experiment, from the process cache, earliest started first."""
    return get_snapshot().running


def running_experiments_for_surface(surface: str) -> tuple[CompiledExperiment, ...]:
    """The running experiments whose ``surface`` is ``surface``, earliest started first."""
    return get_snapshot().by_surface.get(surface, ())


def running_experiment_for_surface(surface: str) -> CompiledExperiment | None:
    """The running experiment on ``surface`` (the earliest started when several run, e.g. in
    disjoint ranges of one layer), or None. Cached: no query per call."""
    experiments = get_snapshot().by_surface.get(surface)
    return experiments[0] if experiments else None


def cached_experiment(key: str) -> CompiledExperiment | None:
    """The cached configuration of experiment ``key`` (any status), or None."""
    return get_snapshot().experiments.get(key)


def active_holdout() -> CompiledHoldout | None:
    """The active permanent holdout, from the cache."""
    return get_snapshot().holdout


def exposure_counts(experiment_id: int, phase: int | None = None) -> dict[int, int]:
    """Exposed users per variant id (one phase, or all phases when None)."""
    rows = Exposure.objects.filter(experiment_id=experiment_id)
    if phase is not None:
        rows = rows.filter(phase=phase)
    return dict(rows.values_list("variant_id").annotate(n=Count("id")).order_by())


def holdout_exposure_counts(holdout_id: int) -> dict[bool, int]:
    """Users evaluated against the holdout, split by ``in_holdout``."""
    rows = HoldoutExposure.objects.filter(holdout_id=holdout_id)
    return dict(rows.values_list("in_holdout").annotate(n=Count("id")).order_by())
