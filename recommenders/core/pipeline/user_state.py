"""The user at request time: what the pipeline knows about them, as a :class:`UserState`.

:func:`user_state` reads the fitted pipeline's feature store, stored histories and towers;
a request's own history, stated preferences, demographics and context override or complete
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from recommenders.core.pipeline.candidates import UserState
from recommenders.core.pipeline.store import FeatureStore
from recommenders.core.two_tower.inputs import hour_weekday

if TYPE_CHECKING:
    from recommenders.core.pipeline.recommender.state import FittedPipeline


def user_state(
    fitted: FittedPipeline,
    user_index: int | None,
    context: dict[str, Any] | None = None,
    history: list[int] | np.ndarray | None = None,
    preferences: dict[str, Any] | None = None,
    attributes: dict[str, str] | None = None,
) -> UserState:
    """Assemble what is known about the user (arguments as in
    :func:`~recommenders.core.pipeline.recommender.serving.serve_one`); reads the
    fitted ``store``, ``tower`` and stored histories."""
    store = fitted.store
    context = dict(context or {})
    preferences = preferences or {}
    known = user_index is not None and 0 <= user_index < fitted.n_users
    stored = (
        fitted.history(user_index) if known and user_index is not None else np.zeros(0, np.int64)
    )
    items = stored if history is None else np.asarray(history, dtype=np.int64)
    liked_items = np.asarray(preferences.get("items", []), dtype=np.int64)
    full = np.concatenate([liked_items, items]).astype(np.int64)
    full = full[(full >= 0) & (full < fitted.n_items)]
    liked_categories = _category_indices(store, preferences.get("categories", []))
    use_stored = known and history is None and len(liked_items) == 0
    last_ts = float(store.user_last_ts[user_index]) if known else 0.0
    last_ts = float(context.get("last_interaction_ts", last_ts) or 0.0)
    if context.get("timestamp") is not None:
        reference = float(context["timestamp"])
    else:
        reference = last_ts if last_ts > 0 else store.reference_ts
    tower_context = {**context}
    if "timestamp" not in context and "hour" not in context and reference > 0:
        tower_context["timestamp"] = reference
    vector = fitted.tower.user_vector(
        user_index if known else None,
        None if use_stored else full,
        tower_context,
        attributes,
    )
    hour, weekday = _hour_weekday(tower_context)
    return UserState(
        user_index=user_index if known else None,
        history=full,
        exclude=np.union1d(full, stored),
        vector=vector,
        category_affinity=_affinity(store, user_index, full, liked_categories, use_stored),
        preferred_categories=liked_categories,
        attr_codes=_attr_codes(store, user_index if known else None, attributes),
        creator_counts=_creator_counts(store, user_index, full, use_stored),
        activity=float(len(full)),
        last_ts=last_ts,
        reference_ts=reference,
        session_depth=float(context.get("session_depth", 0) or 0),
        hour=hour,
        weekday=weekday,
    )


def _category_indices(store: FeatureStore, values: list) -> np.ndarray:
    names = store.category_names
    out = []
    for value in values:
        if isinstance(value, str) and value in names:
            out.append(names.index(value))
        elif (
            not isinstance(value, str)
            and 0 <= int(value) < store.n_categories
            or isinstance(value, str)
            and value.isdigit()
            and int(value) < len(names)
        ):
            out.append(int(value))
    return np.asarray(sorted(set(out)), dtype=np.int64)


def _affinity(store: FeatureStore, user_index, items, liked_categories, use_stored) -> np.ndarray:
    if use_stored:
        affinity = store.user_category_affinity[user_index].copy()
    else:
        affinity = np.asarray(store.item_categories[items].sum(axis=0), np.float32).ravel()
    if len(liked_categories):
        affinity[liked_categories] += max(float(affinity.sum()), 1.0) / len(liked_categories)
    return (affinity / max(float(affinity.sum()), 1e-12)).astype(np.float32)


def _attr_codes(store: FeatureStore, user_index: int | None, attributes: dict | None) -> np.ndarray:
    if attributes is not None:
        return store.encode_attributes(attributes)
    if user_index is not None:
        return store.user_attr_codes[user_index]
    return np.zeros(len(store.attribute_values), dtype=np.int64)


def _creator_counts(store: FeatureStore, user_index, items, use_stored) -> np.ndarray:
    n_creators = len(store.creator_names) + 1
    if use_stored and user_index < store.user_creator_counts.shape[0]:
        return store.user_creator_counts[user_index].toarray().ravel()
    return np.bincount(store.item_creator[items], minlength=n_creators).astype(np.float32)


def _hour_weekday(context: dict[str, Any]) -> tuple[float, float]:
    """(hour 0-23, weekday 0-6) of a context, NaN where unknown."""
    if context.get("timestamp") is not None:
        hour, weekday = hour_weekday(np.array([float(context["timestamp"])]))
        return float(hour[0] - 1), float(weekday[0] - 1)
    hour = float(context["hour"]) if context.get("hour") is not None else np.nan
    weekday = float(context["weekday"]) if context.get("weekday") is not None else np.nan
    return hour, weekday
