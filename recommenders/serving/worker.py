"""The serving worker's side of one request: the warm model answers one user.

The ``recommend`` task calls :func:`recommend_with_warm_model`. The model cache
(``model_cache``) holds the warm version; every model answers through the same
:meth:`~recommenders.core.base.Recommender.recommend_one` (its ranking or cold start, then
the business rules, once, over the version's catalogue). This module only translates: the
user's external id to the model's index, their stated onboarding preferences and
demographics (read for users the model cannot answer from a history) to item indices, and
the served item indices back to external ids.

Exploration is one step after ranking (:func:`explore_ranked`): with the configuration's
exploration on, the model ranks a pool and the served list is drawn from it
(:mod:`recommenders.core.served_exploration`), each item carrying its propensity at its
position; sorted lists carry propensity 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommenders.core.served_exploration import (
    ExplorationSettings,
    ExploredServed,
    explore_served,
    request_rng,
)
from recommenders.serving.model_cache import ArtifactsMissing, LoadedVersion, warm_version
from recommenders.serving.selectors import user_profile_inputs


def recommend_with_warm_model(
    config_id: int, user_id: str, k: int, context: dict[str, Any]
) -> dict[str, Any]:
    """Top-k for one user from the warm active version of ``config_id``.

    Returns ``{"status": "ok", "model_version", "items": [{item_id, score, source,
    propensity, step_propensity}], "cold", "exploration"}`` (``exploration``: the policy's
    log, see :class:`~recommenders.core.served_exploration.ExploredServed`), or a ``status``
    of ``no_active_version`` or ``artifacts_missing``.
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
    items, cold, exploration = recommend_for_user(loaded, user_id, k, context)
    return {
        "status": "ok",
        "model_version": loaded.version_id,
        "items": items,
        "cold": cold,
        "exploration": exploration,
    }


def recommend_for_user(
    loaded: LoadedVersion,
    user_id: str,
    k: int,
    context: dict[str, Any],
    exploration: ExplorationSettings | None = None,
) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
    """The served list for one user (external item ids), whether the model could not answer
    them from a history (cold start), and the exploration log. ``exploration``: the policy
    (None: the configuration's; ``ExplorationSettings()`` for the sorted list)."""
    policy = loaded.exploration if exploration is None else exploration
    ranked, cold = rank_for_user(loaded, user_id, policy.depth(k), context)
    explored = explore_ranked(ranked, k, policy, context, user_id)
    return served_items(loaded.item_ids, explored), cold, dict(explored.log)


def explore_ranked(
    ranked: list[tuple[int, float, str]],
    k: int,
    policy: ExplorationSettings,
    context: dict[str, Any],
    user_id: str,
) -> ExploredServed:
    """The exploration step after ranking, seeded by the request (its ``request_id`` in the
    context, else the user and the request's timestamp) so that a draw can be replayed."""
    seed = str(context.get("request_id") or f"{user_id}@{context.get('timestamp', '')}")
    return explore_served(ranked, k, policy, request_rng(seed))


def rank_for_user(
    loaded: LoadedVersion, user_id: str, k: int, context: dict[str, Any]
) -> tuple[list[tuple[int, float, str]], bool]:
    """The model's ranked list for one user (item indices, business rules applied) and
    whether the model could not answer them from a history (cold start)."""
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
    return served, not warm


def _preference_indices(loaded: LoadedVersion, preferences: dict[str, Any]) -> dict[str, Any]:
    """Stated preferences with liked items as indices (unknown ones dropped)."""
    items = [
        loaded.item_index[str(i)]
        for i in preferences.get("items", [])
        if str(i) in loaded.item_index
    ]
    return {"categories": list(preferences.get("categories", [])), "items": items}


def served_items(item_ids: np.ndarray, explored: ExploredServed) -> list[dict[str, Any]]:
    """The explored list as the answer's items (external ids), each with its marginal
    ``propensity`` at its position (None where it is recomputed from the log) and its
    ``step_propensity``."""
    return [
        {
            "item_id": str(item_ids[index]),
            "score": round(score, 6),
            "source": source,
            "propensity": propensity,
            "step_propensity": step,
        }
        for (index, score, source), propensity, step in zip(
            explored.served, explored.propensities, explored.step_propensities, strict=True
        )
    ]
