"""Active model versions kept warm in a serving worker process, and answering one user.

Each worker child loads the active version of every configuration after the fork
(:func:`warm_up`, registered as a worker process-start hook) and checks, at most every
``SPLITLAB_SERVING_VERSION_TTL_SECONDS``, which versions are active (one small query); a
promotion or rollback is therefore picked up within that time, by loading the new version
before the old one is dropped.

Answers pass the configuration's business rules: items blocked by the content policy (the
catalogue's ``is_blocked`` flag at build time and the config's ``blocked_items`` /
``blocked_categories``) are never served, and ``max_per_category`` caps each category in the
list. Users the model does not know are answered from their stated onboarding preferences
(popular items in the liked categories, or in the categories of liked items), else from
popular items.
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

from recommenders.selectors.serving import active_versions, user_profile_inputs

logger = logging.getLogger(__name__)

CANDIDATE_MARGIN = 50  # extra items fetched so rules can drop some and still fill k
LOAD_RETRY_SECONDS = 30.0  # a version whose artifacts could not be read is retried after


class ArtifactsMissing(Exception):
    """The active version's folder is gone or incomplete."""


@dataclass
class RuleContext:
    """What the business rules need: the config's rules, blocked items, item categories."""

    rules: dict[str, Any]
    excluded: np.ndarray  # bool per item index: never served
    item_categories: list[list[str]]

    @classmethod
    def build(
        cls,
        rules: dict[str, Any],
        item_ids: np.ndarray,
        categories: list[list[str]],
        catalogue_blocked: set[str],
    ) -> RuleContext:
        """Blocked: the catalogue's ``is_blocked`` items, the rules' ``blocked_items``
        (external ids) and every item in one of the rules' ``blocked_categories``."""
        blocked_ids = set(catalogue_blocked) | {str(i) for i in rules.get("blocked_items", [])}
        blocked_categories = set(rules.get("blocked_categories", []))
        excluded = np.array(
            [
                item_id in blocked_ids or bool(blocked_categories.intersection(cats))
                for item_id, cats in zip(item_ids.tolist(), categories, strict=True)
            ],
            dtype=bool,
        )
        return cls(dict(rules), excluded, categories)


@dataclass
class LoadedVersion:
    """One active model version in memory, with what rules and cold start need."""

    version_id: int
    config_id: int
    algorithm: str
    rules: dict[str, Any]
    model: Any
    user_index: dict[str, int]
    item_ids: np.ndarray
    item_index: dict[str, int]
    item_categories: list[list[str]]
    category_items: dict[str, np.ndarray]
    excluded: np.ndarray  # bool per item: never served (blocked)
    rule_context: RuleContext
    catalogue_blocked: set[str]  # items blocked in the catalogue when the version was built
    popularity_order: np.ndarray  # item indices, most popular first
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
    rule_context = RuleContext.build(rules, item_ids, categories, blocked)
    by_category: dict[str, list[int]] = {}
    for index, cats in enumerate(categories):
        for category in cats:
            by_category.setdefault(category, []).append(index)
    popularity = np.asarray(model.item_popularity, dtype=np.float64)
    return LoadedVersion(
        version_id=version_id,
        config_id=config_id,
        algorithm=manifest["algorithm"],
        rules=dict(rules),
        model=model,
        user_index={u: i for i, u in enumerate(user_ids.tolist())},
        item_ids=item_ids,
        item_index={it: i for i, it in enumerate(item_ids.tolist())},
        item_categories=categories,
        category_items={c: np.asarray(v, np.int64) for c, v in by_category.items()},
        excluded=rule_context.excluded,
        rule_context=rule_context,
        catalogue_blocked=blocked,
        popularity_order=np.argsort(-popularity, kind="stable"),
    )


def with_rules(loaded: LoadedVersion, rules: dict[str, Any]) -> LoadedVersion:
    """The same warm model under edited business rules."""
    context = RuleContext.build(
        rules, loaded.item_ids, loaded.item_categories, loaded.catalogue_blocked
    )
    return replace(loaded, rules=dict(rules), rule_context=context, excluded=context.excluded)


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
            if loaded.rules != active.rules:
                loaded = self._versions[config_id] = with_rules(loaded, active.rules)
            return loaded
        failed = self._failed.get(active.version_id)
        if failed is not None and time.monotonic() - failed[0] < LOAD_RETRY_SECONDS:
            raise ArtifactsMissing(failed[1])
        with self._lock:
            try:
                loaded = load_version(
                    active.version_id, config_id, active.artifact_path, active.rules
                )
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


def recommend_with_warm_model(
    config_id: int, user_id: str, k: int, context: dict[str, Any]
) -> dict[str, Any]:
    """Top-k for one user from the warm active version of ``config_id`` (see module doc)."""
    try:
        loaded = _cache.get(config_id)
    except ArtifactsMissing as error:
        return {
            "status": "artifacts_missing",
            "model_version": None,
            "items": [],
            "detail": str(error),
        }
    if loaded is None:
        return {"status": "no_active_version", "model_version": None, "items": []}
    items, cold = recommend_one(loaded, user_id, k, context)
    return {"status": "ok", "model_version": loaded.version_id, "items": items, "cold": cold}


def recommend_one(
    loaded: LoadedVersion, user_id: str, k: int, context: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """The ranked, rule-checked list for one user and whether it came from cold start."""
    user_index = loaded.user_index.get(user_id)
    model = loaded.model
    warm = user_index is not None and not bool(model.cold_mask(np.array([user_index]))[0])
    if hasattr(model, "recommend_one"):
        preferences, attributes = ({}, None) if warm else user_profile_inputs(user_id)
        ranked = model.recommend_one(
            user_index=user_index,
            k=k,
            context=context,
            preferences=_preference_indices(loaded, preferences),
            rules=_pipeline_rules(loaded),
            attributes=attributes,
        )
        candidates = [(int(i), float(s), str(src)) for i, s, src in ranked]
    elif warm:
        recs = model.recommend([user_index], k + CANDIDATE_MARGIN, exclude_seen=True)
        candidates = [
            (int(i), float(s), "model")
            for i, s in zip(recs.item_indices[0], recs.scores[0], strict=True)
            if i >= 0
        ]
    else:
        preferences, _ = user_profile_inputs(user_id)
        candidates = cold_start_candidates(loaded, preferences, k + CANDIDATE_MARGIN)
    return served_items(loaded.item_ids, apply_rules(loaded.rule_context, candidates, k)), not warm


def _pipeline_rules(loaded: LoadedVersion) -> dict[str, Any]:
    """The config's rules in the pipeline's terms: blocked items as indices (categories
    included), the other keys (caps, MMR, freshness, trusted creators) as they are."""
    rules = {**loaded.model.params.get("rules", {}), **loaded.rules}
    rules.pop("blocked_categories", None)
    rules["blocked_items"] = np.flatnonzero(loaded.excluded).tolist()
    return rules


def _preference_indices(loaded: LoadedVersion, preferences: dict[str, Any]) -> dict[str, Any]:
    items = [
        loaded.item_index[str(i)]
        for i in preferences.get("items", [])
        if str(i) in loaded.item_index
    ]
    return {"categories": list(preferences.get("categories", [])), "items": items}


def cold_start_candidates(
    loaded: LoadedVersion, preferences: dict[str, Any], n: int
) -> list[tuple[int, float, str]]:
    """Popular items in the liked categories (and those of liked items), then popular.

    Score = rank-based popularity ``1 / (1 + rank)`` in (0, 1], plus 1 inside liked
    categories: every liked-category item comes first, popularity orders within both parts.
    """
    liked_items = {
        loaded.item_index[str(i)]
        for i in preferences.get("items", [])
        if str(i) in loaded.item_index
    }
    liked_categories = set(preferences.get("categories", []))
    for index in liked_items:
        liked_categories.update(loaded.item_categories[index])
    order = loaded.popularity_order
    scores = np.empty(len(order), dtype=np.float64)
    scores[order] = 1.0 / (1.0 + np.arange(len(order)))
    in_liked = np.zeros(len(order), dtype=bool)
    for category in liked_categories:
        members = loaded.category_items.get(category)
        if members is not None:
            in_liked[members] = True
    scores[in_liked] += 1.0
    if liked_items:
        scores[list(liked_items)] = -np.inf
    top = np.argsort(-scores, kind="stable")[:n]
    return [
        (int(i), float(scores[i]), "cold_start_preferences" if in_liked[i] else "popular")
        for i in top
        if np.isfinite(scores[i])
    ]


def apply_rules(
    context: RuleContext, candidates: list[tuple[int, float, str]], k: int
) -> list[tuple[int, float, str]]:
    """Drop blocked and duplicate items, cap items per category, keep the first k."""
    cap = context.rules.get("max_per_category")
    per_category: dict[str, int] = {}
    seen: set[int] = set()
    kept: list[tuple[int, float, str]] = []
    for index, score, source in candidates:
        if index in seen or context.excluded[index]:
            continue
        categories = context.item_categories[index]
        if cap and any(per_category.get(c, 0) >= cap for c in categories):
            continue
        seen.add(index)
        for category in categories:
            per_category[category] = per_category.get(category, 0) + 1
        kept.append((index, score, source))
        if len(kept) == k:
            break
    return kept


def served_items(item_ids: np.ndarray, kept: list[tuple[int, float, str]]) -> list[dict[str, Any]]:
    return [
        {"item_id": str(item_ids[index]), "score": round(score, 6), "source": source}
        for index, score, source in kept
    ]


def reset_cache() -> None:
    """Forget every warm version (tests)."""
    global _cache
    _cache = ModelCache()
