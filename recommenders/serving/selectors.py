"""Reads of the serving path: active versions (cached per process), fallbacks, preferences.

The hot path must not query the database for configuration on every request: which version
is active per configuration, which configuration is the default, the configurations' names
and the catalogue's popular list are cached per process. The process's refresher thread
(``web.background``, registered by the app) re-reads each every half its TTL
(``SPLITLAB_SERVING_VERSION_TTL_SECONDS``: a promotion reaches every process within that
time while the database answers; ``SPLITLAB_POPULAR_TTL_SECONDS``), so a request reads only
memory; without the refresher, the request that finds the TTL expired re-reads it.

The user's precomputed list is read per request, on the fallback path only, bounded by
``SPLITLAB_FALLBACK_READ_MS`` (:func:`precomputed_fallback_within`).
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
from web import background

__all__ = [
    "ActiveVersion",
    "FallbackList",
    "active_versions",
    "catalogue_popular_list",
    "config_names",
    "counter_values",
    "default_config_id",
    "precomputed_fallback",
    "precomputed_fallback_within",
    "refresh_configuration",
    "refresh_popular",
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
    """A value reloaded when older than the TTL (per process, thread-safe).

    While the process's refresher runs (``web.background.running()``) a loaded value is served
    past its TTL: the refresher's :meth:`reload` replaces it, every half TTL, and no request
    waits for the database. Never loaded (cold), or without the refresher, the request loads.
    """

    def __init__(self, load: Any, ttl_setting: str, default_ttl: float) -> None:
        self._load = load
        self._ttl_setting = ttl_setting
        self._default_ttl = default_ttl
        self._value: Any = None
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def ttl_seconds(self) -> float:
        return float(getattr(settings, self._ttl_setting, self._default_ttl))

    def _expired(self) -> bool:
        loaded_at = self._loaded_at
        if loaded_at is None:
            return True
        return time.monotonic() - loaded_at > self.ttl_seconds() and not background.running()

    def get(self, refresh: bool = False) -> Any:
        if refresh or self._expired():
            with self._lock:
                if refresh or self._expired():
                    self._set(self._load())
        return self._value

    def reload(self) -> None:
        """Load now (the refresher's job); a failure keeps the value in memory."""
        value = self._load()
        with self._lock:
            self._set(value)

    def _set(self, value: Any) -> None:
        self._value = value
        self._loaded_at = time.monotonic()

    def clear(self) -> None:
        self._loaded_at = None


def _load_active_versions() -> dict[int, ActiveVersion]:
    rows = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).select_related("config")
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


def _load_default_config_id() -> int | None:
    ids = RecommenderConfig.objects.filter(is_default=True).values_list("pk", flat=True)
    return ids.first()


def _load_config_names() -> dict[int, str]:
    return dict(RecommenderConfig.objects.values_list("pk", "name"))


POPULAR_LIST_LENGTH = 200


def _load_popular() -> list[tuple[str, float]]:
    rows = (
        Interaction.objects.values("item__external_id")
        .filter(item__is_blocked=False)
        .annotate(n=Count("id"))
        .order_by("-n", "item__external_id")[:POPULAR_LIST_LENGTH]
    )
    ranked = [(row["item__external_id"], float(row["n"])) for row in rows]
    if len(ranked) < POPULAR_LIST_LENGTH:  # a catalogue without interactions still has items
        known = {item_id for item_id, _ in ranked}
        newest = Item.objects.filter(is_blocked=False).order_by("-created_at", "-id")
        for item_id in newest.values_list("external_id", flat=True)[:POPULAR_LIST_LENGTH]:
            if item_id not in known and len(ranked) < POPULAR_LIST_LENGTH:
                ranked.append((item_id, 0.0))
    return ranked


_VERSION_TTL = "SPLITLAB_SERVING_VERSION_TTL_SECONDS"
_active_cache = _TtlCache(_load_active_versions, _VERSION_TTL, 2.0)
_default_cache = _TtlCache(_load_default_config_id, _VERSION_TTL, 2.0)
_names_cache = _TtlCache(_load_config_names, _VERSION_TTL, 2.0)
_popular_cache = _TtlCache(_load_popular, "SPLITLAB_POPULAR_TTL_SECONDS", 300.0)


def active_versions(refresh: bool = False) -> dict[int, ActiveVersion]:
    """Config id -> its active version (id, artifact folder, the config's rules and
    exploration settings)."""
    return _active_cache.get(refresh)


def _exploration(config: RecommenderConfig) -> ExplorationSettings:
    """The config's exploration settings; settings out of range (saved around validation)
    serve sorted lists rather than fail every request."""
    try:
        return config.exploration_settings()
    except ValueError:
        return ExplorationSettings()


def default_config_id(refresh: bool = False) -> int | None:
    """The config serving surfaces without a running experiment (None when none is set)."""
    return _default_cache.get(refresh)


def config_names(refresh: bool = False) -> dict[int, str]:
    """Config id -> name, cached like the active versions."""
    return _names_cache.get(refresh)


def refresh_configuration() -> None:
    """Re-read the active versions, the default configuration and the names (the refresher's
    job, every half ``SPLITLAB_SERVING_VERSION_TTL_SECONDS``)."""
    for cache in (_active_cache, _default_cache, _names_cache):
        cache.reload()


def refresh_popular() -> None:
    """Re-read the catalogue's popular list (the refresher's job, every half
    ``SPLITLAB_POPULAR_TTL_SECONDS``)."""
    _popular_cache.reload()


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


def precomputed_fallback_within(
    version_id: int, user_id: str, k: int, timeout_seconds: float
) -> FallbackList | None:
    """:func:`precomputed_fallback`, waited for at most ``timeout_seconds`` on a reader
    thread (``web.background.read_within``: inline and unbounded without background threads
    or with a bound of 0); raises ``background.ReadTimedOut`` past it."""
    return background.read_within(
        lambda: precomputed_fallback(version_id, user_id, k), timeout_seconds
    )


def catalogue_popular_list(k: int) -> FallbackList:
    """Most interacted-with items of the catalogue (cached), without blocked items."""
    ranked = _popular_cache.get()[:k]
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
