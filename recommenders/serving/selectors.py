"""Reads of the serving path: active versions (cached per process), fallbacks, preferences.

The hot path must not query the database for configuration on every request: which version
is active per configuration, and which configuration is the default, are cached per
process and re-read at most every ``SPLITLAB_SERVING_VERSION_TTL_SECONDS`` (a promotion
reaches every process within that time).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count

from recommenders.core.served_exploration import ExplorationSettings
from recommenders.models import (
    Interaction,
    Item,
    ModelVersion,
    PrecomputedList,
    RecommenderConfig,
    ServingCounter,
    UserProfile,
)
from recommenders.models.versions import POPULAR_LIST_USER

__all__ = [
    "ActiveVersion",
    "FallbackList",
    "active_versions",
    "catalogue_popular_list",
    "config_names",
    "counter_values",
    "default_config_id",
    "precomputed_fallback",
    "user_profile_inputs",
]


@dataclass(frozen=True)
class ActiveVersion:
    version_id: int
    artifact_path: str
    rules: dict[str, Any]
    exploration: ExplorationSettings = ExplorationSettings()


@dataclass(frozen=True)
class FallbackList:
    item_ids: list[str]
    scores: list[float]
    source: str  # "precomputed" (the user's own list) or "popular"


class _TtlCache:
    """A value recomputed when older than the TTL (per process, thread-safe)."""

    def __init__(self, ttl_setting: str, default_ttl: float) -> None:
        self._ttl_setting = ttl_setting
        self._default_ttl = default_ttl
        self._value: Any = None
        self._loaded_at = -1e18
        self._lock = threading.Lock()

    def get(self, load: Any, refresh: bool = False) -> Any:
        ttl = float(getattr(settings, self._ttl_setting, self._default_ttl))
        if refresh or time.monotonic() - self._loaded_at > ttl:
            with self._lock:
                if refresh or time.monotonic() - self._loaded_at > ttl:
                    self._value = load()
                    self._loaded_at = time.monotonic()
        return self._value

    def clear(self) -> None:
        self._loaded_at = -1e18


_active_cache = _TtlCache("SPLITLAB_SERVING_VERSION_TTL_SECONDS", 2.0)
_default_cache = _TtlCache("SPLITLAB_SERVING_VERSION_TTL_SECONDS", 2.0)
_popular_cache = _TtlCache("SPLITLAB_POPULAR_TTL_SECONDS", 300.0)


def active_versions(refresh: bool = False) -> dict[int, ActiveVersion]:
    """Config id -> its active version (id, artifact folder, the config's rules and
    exploration settings)."""

    def load() -> dict[int, ActiveVersion]:
        rows = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).select_related(
            "config"
        )
        return {
            row.config_id: ActiveVersion(
                row.pk, row.artifact_path, row.config.rules or {}, _exploration(row.config)
            )
            for row in rows.only(
                "pk",
                "artifact_path",
                "config__rules",
                "config__exploration_mode",
                "config__exploration_temperature",
                "config__exploration_epsilon",
                "config__exploration_pool",
            )  # fmt: skip
        }

    return _active_cache.get(load, refresh)


def _exploration(config: RecommenderConfig) -> ExplorationSettings:
    """The config's exploration settings; settings out of range (saved around validation)
    serve sorted lists rather than fail every request."""
    try:
        return config.exploration_settings()
    except ValueError:
        return ExplorationSettings()


def default_config_id(refresh: bool = False) -> int | None:
    """The config serving surfaces without a running experiment (None when none is set)."""

    def load() -> int | None:
        ids = RecommenderConfig.objects.filter(is_default=True).values_list("pk", flat=True)
        return ids.first()

    return _default_cache.get(load, refresh)


_names_cache = _TtlCache("SPLITLAB_SERVING_VERSION_TTL_SECONDS", 2.0)


def config_names(refresh: bool = False) -> dict[int, str]:
    """Config id -> name, cached like the active versions."""

    def load() -> dict[int, str]:
        return dict(RecommenderConfig.objects.values_list("pk", "name"))

    return _names_cache.get(load, refresh)


def clear_caches() -> None:
    """Forget cached configuration (tests, and after a promotion in this process)."""
    for cache in (_active_cache, _default_cache, _popular_cache, _names_cache):
        cache.clear()


def precomputed_fallback(version_id: int, user_id: str, k: int) -> FallbackList | None:
    """The user's precomputed list of that version, else the version's popular list."""
    rows = {
        row.user_external_id: row
        for row in PrecomputedList.objects.filter(
            model_version_id=version_id, user_external_id__in=[user_id, POPULAR_LIST_USER]
        )
    }
    row = rows.get(user_id) or rows.get(POPULAR_LIST_USER)
    if row is None:
        return None
    source = "precomputed" if row.user_external_id else "popular"
    return FallbackList(row.item_ids[:k], row.scores[:k], source)


def catalogue_popular_list(k: int) -> FallbackList:
    """Most interacted-with items of the catalogue (cached), without blocked items."""

    def load() -> list[tuple[str, float]]:
        rows = (
            Interaction.objects.values("item__external_id")
            .filter(item__is_blocked=False)
            .annotate(n=Count("id"))
            .order_by("-n", "item__external_id")[:200]
        )
        ranked = [(row["item__external_id"], float(row["n"])) for row in rows]
        if len(ranked) < 200:  # a catalogue without interactions still has items
            known = {item_id for item_id, _ in ranked}
            newest = Item.objects.filter(is_blocked=False).order_by("-created_at", "-id")
            for item_id in newest.values_list("external_id", flat=True)[:200]:
                if item_id not in known and len(ranked) < 200:
                    ranked.append((item_id, 0.0))
        return ranked

    ranked = _popular_cache.get(load)[:k]
    return FallbackList([i for i, _ in ranked], [s for _, s in ranked], "popular")


def user_profile_inputs(user_id: str) -> tuple[dict[str, Any], dict[str, str] | None]:
    """A user's stated onboarding preferences and demographics (empty/None when unknown)."""
    row = (
        UserProfile.objects.filter(external_id=user_id)
        .values("preferences", "age_band", "gender", "occupation", "region", "signup_context")
        .first()
    )
    if row is None:
        return {}, None
    attributes = {name: str(row[name]) for name in ("age_band", "gender", "occupation", "region")}
    for key in ("surface", "campaign"):
        attributes[f"signup_{key}"] = str((row["signup_context"] or {}).get(key, ""))
    return dict(row["preferences"] or {}), attributes


def counter_values() -> dict[str, int]:
    """Every serving counter, as stored (the current process's unflushed counts excluded)."""
    return dict(ServingCounter.objects.values_list("name", "value"))
