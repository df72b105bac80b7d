"""Active model versions kept warm in a serving worker process: load, cache, reload.

Each worker child loads the active version of every configuration after the fork
(:func:`warm_up`, registered as a worker process-start hook) and checks, at most every
``SPLITLAB_SERVING_VERSION_TTL_SECONDS``, which versions are active (one small query); a
promotion or rollback is therefore picked up within that time, by loading the new version
before the old one is dropped.

A loaded version holds, beside the model, what the rules and cold start read: its
:class:`~recommenders.core.item_catalogue.ItemCatalogue` (each item's categories at build
time) and the configuration's rules in item-index terms (the catalogue's ``is_blocked``
items at build time and the config's ``blocked_items`` / ``blocked_categories`` as blocked
indices), recomputed when the config's rules are edited. Answering a request is
``worker``'s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from recommenders.core.item_catalogue import ItemCatalogue, rules_by_index
from recommenders.core.served_exploration import ExplorationSettings
from recommenders.serving.selectors import active_versions

logger = logging.getLogger(__name__)

LOAD_RETRY_SECONDS = 30.0  # a version whose artifacts could not be read is retried after


class ArtifactsMissing(Exception):
    """The active version's folder is gone or incomplete."""


@dataclass
class LoadedVersion:
    """One active model version in memory, with the catalogue and rules it serves under."""

    version_id: int
    config_id: int
    algorithm: str
    config_rules: dict[str, Any]  # as configured: external item ids, category names
    model: Any
    user_index: dict[str, int]
    item_ids: np.ndarray
    item_index: dict[str, int]
    catalogue: ItemCatalogue
    catalogue_blocked: set[str]  # items blocked in the catalogue when the version was built
    rules: dict[str, Any]  # ``config_rules`` in item-index terms, over the model's defaults
    exploration: ExplorationSettings = field(default_factory=ExplorationSettings)
    loaded_at: float = field(default_factory=time.monotonic)


def load_version(version_id: int, config_id: int, artifact_path: str, rules: dict) -> LoadedVersion:
    """Read a built version folder (model, ids, categories, blocked items)."""
    from recommenders.core.registry import load_model

    folder = Path(artifact_path)
    if not (folder / "manifest.json").is_file():
        raise ArtifactsMissing(f"version {version_id}: no manifest in {folder}")
    manifest = json.loads((folder / "manifest.json").read_text())
    model = load_model(folder / "model")
    item_ids = np.load(folder / "item_ids.npy")
    user_ids = np.load(folder / "user_ids.npy")
    categories = json.loads((folder / "item_categories.json").read_text())
    blocked = set(json.loads((folder / "blocked_items.json").read_text()))
    catalogue = ItemCatalogue.from_category_lists(categories, model.item_popularity)
    catalogue.popularity_order  # noqa: B018 - computed now, not on the first cold request
    item_index = {it: i for i, it in enumerate(item_ids.tolist())}
    return LoadedVersion(
        version_id=version_id,
        config_id=config_id,
        algorithm=manifest["algorithm"],
        config_rules=dict(rules),
        model=model,
        user_index={u: i for i, u in enumerate(user_ids.tolist())},
        item_ids=item_ids,
        item_index=item_index,
        catalogue=catalogue,
        catalogue_blocked=blocked,
        rules=_rules_for(model, rules, item_index, catalogue, blocked),
    )


def _rules_for(
    model: Any,
    rules: dict[str, Any],
    item_index: dict[str, int],
    catalogue: ItemCatalogue,
    blocked: set[str],
) -> dict[str, Any]:
    defaults = model.params.get("rules", {})
    return rules_by_index(rules, item_index, catalogue, blocked, defaults)


def with_rules(loaded: LoadedVersion, rules: dict[str, Any]) -> LoadedVersion:
    """The same warm model under edited business rules."""
    by_index = _rules_for(
        loaded.model, rules, loaded.item_index, loaded.catalogue, loaded.catalogue_blocked
    )
    return replace(loaded, config_rules=dict(rules), rules=by_index)


class ModelCache:
    """Per-process map config id -> warm :class:`LoadedVersion`, refreshed by TTL."""

    def __init__(self) -> None:
        self._versions: dict[int, LoadedVersion] = {}
        # version id -> (monotonic time of the failure, why it could not be loaded)
        self._failed: dict[int, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, config_id: int) -> LoadedVersion | None:
        """The warm active version of ``config_id``; loads it if promoted since the last
        look, and re-applies the config's rules when they were edited. Raises
        :class:`ArtifactsMissing` when its artifacts cannot be read (retried after
        ``LOAD_RETRY_SECONDS``)."""
        active = active_versions().get(config_id)
        if active is None:
            self._versions.pop(config_id, None)  # no longer served: free its memory
            return None
        loaded = self._versions.get(config_id)
        if loaded is not None and loaded.version_id == active.version_id:
            if loaded.config_rules != active.rules:
                loaded = self._versions[config_id] = with_rules(loaded, active.rules)
            if loaded.exploration != active.exploration:
                loaded = self._versions[config_id] = replace(loaded, exploration=active.exploration)
            return loaded
        failed = self._failed.get(active.version_id)
        if failed is not None and time.monotonic() - failed[0] < LOAD_RETRY_SECONDS:
            raise ArtifactsMissing(failed[1])
        with self._lock:
            try:
                loaded = load_version(
                    active.version_id, config_id, active.artifact_path, active.rules
                )
                loaded = replace(loaded, exploration=active.exploration)
            except (OSError, ValueError, KeyError, ArtifactsMissing) as error:
                reason = f"{type(error).__name__}: {error}"
                self._failed[active.version_id] = (time.monotonic(), reason)
                logger.error("cannot load version %s: %s", active.version_id, error)
                raise ArtifactsMissing(reason) from error
            self._versions[config_id] = loaded
            self._failed.pop(active.version_id, None)
        logger.info("serving config %s with version %s", config_id, active.version_id)
        return loaded

    def warm_up(self) -> int:
        """Load every active version now; returns how many loaded."""
        count = 0
        for config_id in active_versions(refresh=True):
            try:
                if self.get(config_id) is not None:
                    count += 1
            except ArtifactsMissing:
                continue
        return count


_cache = ModelCache()


def warm_up() -> None:
    """Worker process-start hook: load the active versions (never kills the worker)."""
    try:
        loaded = _cache.warm_up()
        logger.info("serving warm-up: %d active version(s) loaded", loaded)
    except Exception:  # a database not migrated yet must not stop the worker starting
        logger.exception("serving warm-up failed; versions load on first request")
    finally:
        from django.db import connections

        # Do not keep a connection opened before the first task (it may be the parent's).
        connections.close_all()


def warm_version(config_id: int) -> LoadedVersion | None:
    """The warm active version of ``config_id`` in this process (see :meth:`ModelCache.get`)."""
    return _cache.get(config_id)


def reset_cache() -> None:
    """Forget every warm version (tests)."""
    global _cache
    _cache = ModelCache()
