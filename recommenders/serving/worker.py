"""The serving worker's side of one request: the warm model answers one user.

The ``recommend`` task calls :func:`recommend_with_warm_model`. The model cache
(``model_cache``) holds the warm version; every model answers through the same
:meth:`~recommenders.core.base.Recommender.recommend_one` (its ranking or cold start, then
the business rules, once, over the version's catalogue). This module only translates: the
user's external id to the model's index, their stated onboarding preferences and
demographics (read for users the model cannot answer from a history) to item indices, and
the served item indices back to external ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommenders.serving.model_cache import ArtifactsMissing, LoadedVersion, warm_version
from recommenders.serving.selectors import user_profile_inputs


def recommend_with_warm_model(
    config_id: int, user_id: str, k: int, context: dict[str, Any]
) -> dict[str, Any]:
    """Top-k for one user from the warm active version of ``config_id``.

    Returns ``{"status": "ok", "model_version", "items": [{item_id, score, source}],
    "cold"}``, or a ``status`` of ``no_active_version`` or ``artifacts_missing``.
    """
    try:
        loaded = warm_version(config_id)
    except ArtifactsMissing as error:
        return {
            "status": "artifacts_missing",
            "model_version": None,
            "items": [],
            "detail": str(error),
        }
    if loaded is None:
        return {"status": "no_active_version", "model_version": None, "items": []}
    items, cold = recommend_for_user(loaded, user_id, k, context)
    return {"status": "ok", "model_version": loaded.version_id, "items": items, "cold": cold}


def recommend_for_user(
    loaded: LoadedVersion, user_id: str, k: int, context: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """The served list for one user (external item ids) and whether the model could not
    answer them from a history (cold start)."""
    user_index = loaded.user_index.get(user_id)
    model = loaded.model
    warm = user_index is not None and not bool(model.cold_mask(np.array([user_index]))[0])
    preferences, attributes = ({}, None) if warm else user_profile_inputs(user_id)
    served = model.recommend_one(
        user_index=user_index,
        k=k,
        context=context,
        preferences=_preference_indices(loaded, preferences),
        rules=loaded.rules,
        attributes=attributes,
        catalogue=loaded.catalogue,
    )
    return served_items(loaded.item_ids, served), not warm


def _preference_indices(loaded: LoadedVersion, preferences: dict[str, Any]) -> dict[str, Any]:
    """Stated preferences with liked items as indices (unknown ones dropped)."""
    items = [
        loaded.item_index[str(i)]
        for i in preferences.get("items", [])
        if str(i) in loaded.item_index
    ]
    return {"categories": list(preferences.get("categories", [])), "items": items}


def served_items(
    item_ids: np.ndarray, served: list[tuple[int, float, str]]
) -> list[dict[str, Any]]:
    """``(item index, score, source)`` as the answer's items (external ids)."""
    return [
        {"item_id": str(item_ids[index]), "score": round(score, 6), "source": source}
        for index, score, source in served
    ]
