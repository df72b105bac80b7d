"""The ranking features of (user, candidate) pairs, assembled from the feature store.

Columns (``feature_names`` gives their names in order):

- cross: two-tower score <u, v_i>; item-CF score and its log; log of the next-item
  probability after the user's latest items (:mod:`sequence`); demographic preference
  (log-lift); affinity of the user to the item's categories sum_c a_uc C_ic / |C_i| and its
  maximum over the item's categories; log(1 + interactions of the user with the item's
  creator); the candidate's sources (one bit each);
- item: log(1 + popularity), log(1 + trending at the request time), trending relative to
  the top trending item, log(1 + age in days), mean interaction value, categories
  (one-hot, when at most ``MAX_CATEGORY_COLUMNS``);
- user: log(1 + activity), log(1 + days since the latest interaction), number of history
  items known, attributes (one-hot per small-vocabulary attribute);
- context: hour and weekday as (sin, cos) on their circles (0 when unknown), log(1 +
  session depth).
"""

from __future__ import annotations

import numpy as np

from recommenders.core.pipeline.candidates import SOURCES, Candidates, UserState
from recommenders.core.pipeline.store import SECONDS_PER_DAY, FeatureStore

MAX_CATEGORY_COLUMNS = 32


def feature_names(store: FeatureStore) -> list[str]:
    names = [
        "tower_score",
        "cf_score",
        "log_cf_score",
        "log_next_score",
        "demographic_score",
        "category_affinity",
        "category_affinity_max",
        "log_creator_interactions",
    ]
    names += [f"source_{name}" for name in SOURCES]
    names += ["log_popularity", "log_trend", "trend_relative", "log_age_days", "mean_value"]
    if store.n_categories <= MAX_CATEGORY_COLUMNS:
        names += [f"category_{name}" for name in store.category_names] or [
            f"category_{c}" for c in range(store.n_categories)
        ]
    names += ["log_activity", "log_days_since_last", "history_known"]
    for name, values in store.attribute_values.items():
        names += [f"user_{name}_{value}" for value in values]
    names += ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "log_session_depth"]
    return names


def candidate_features(
    store: FeatureStore,
    state: UserState,
    candidates: Candidates,
    tower_scores: np.ndarray,
    demographic: np.ndarray | None,
    trend: np.ndarray,
    next_scores: np.ndarray | None = None,
) -> np.ndarray:
    """The len(candidates) x n_features float32 matrix (columns of :func:`feature_names`);
    ``next_scores``: the next-item probabilities of the tracked items (None: unknown)."""
    items = candidates.items
    n = len(items)
    cats = store.item_categories[items]
    n_cats = np.maximum(np.diff(cats.indptr), 1)
    affinity_sum = cats @ state.category_affinity
    affinity_max = _row_max(cats, state.category_affinity)
    creators = store.item_creator[items]
    creator_hits = np.where(
        creators < len(state.creator_counts),
        state.creator_counts[np.minimum(creators, len(state.creator_counts) - 1)],
        0.0,
    )
    creator_hits = np.where(creators > 0, creator_hits, 0.0)
    demo = np.zeros(n, np.float32)
    if demographic is not None:
        tracked = items < len(demographic)
        demo[tracked] = demographic[items[tracked]]
        demo[~tracked] = demographic.min() if len(demographic) else 0.0
    item_trend = np.where(items < len(trend), trend[np.minimum(items, len(trend) - 1)], 0.0)
    top_trend = max(float(trend.max()) if len(trend) else 0.0, 1e-6)
    age_days = (state.reference_ts - store.item_first_seen[items]) / SECONDS_PER_DAY
    age_days = np.nan_to_num(np.maximum(age_days, 0.0), nan=0.0)
    sources = (candidates.source_mask[:, None] >> np.arange(len(SOURCES))) & 1
    columns = [
        tower_scores[:, None],
        candidates.cf_score[:, None],
        np.log1p(candidates.cf_score)[:, None],
        np.log(next_at(next_scores, items))[:, None],
        demo[:, None],
        (affinity_sum / n_cats)[:, None],
        affinity_max[:, None],
        np.log1p(creator_hits)[:, None],
        sources,
        np.log1p(store.item_count[items])[:, None],
        np.log1p(item_trend)[:, None],
        (item_trend / top_trend)[:, None],
        np.log1p(age_days)[:, None],
        store.item_mean_value[items][:, None],
    ]
    if store.n_categories <= MAX_CATEGORY_COLUMNS:
        columns.append(cats.toarray())
    columns.append(np.broadcast_to(_user_row(store, state), (n, _n_user_columns(store))))
    return np.hstack([np.asarray(c, dtype=np.float32) for c in columns])


def next_at(next_scores: np.ndarray | None, items: np.ndarray) -> np.ndarray:
    """p(next = item) at ``items``, floored at 1e-12 (and at the smallest tracked value for
    items beyond the tracked ones); 1e-12 everywhere when unknown."""
    out = np.full(len(items), 1e-12, np.float64)
    if next_scores is None or len(next_scores) == 0:
        return out
    tracked = items < len(next_scores)
    out[~tracked] = max(float(next_scores.min()), 1e-12)
    out[tracked] = np.maximum(next_scores[items[tracked]], 1e-12)
    return out


def _row_max(cats, affinity: np.ndarray) -> np.ndarray:
    values = affinity[cats.indices]
    out = np.zeros(cats.shape[0], dtype=np.float32)
    nonempty = np.diff(cats.indptr) > 0
    if values.size:
        maxima = np.maximum.reduceat(values, cats.indptr[:-1][nonempty])
        out[nonempty] = maxima
    return out


def _n_user_columns(store: FeatureStore) -> int:
    return 3 + sum(len(v) for v in store.attribute_values.values()) + 5


def _user_row(store: FeatureStore, state: UserState) -> np.ndarray:
    days_since = 0.0
    if state.last_ts > 0:
        days_since = max(state.reference_ts - state.last_ts, 0.0) / SECONDS_PER_DAY
    row = [np.log1p(state.activity), np.log1p(days_since), float(len(state.history) > 0)]
    for slot, values in enumerate(store.attribute_values.values()):
        onehot = np.zeros(len(values))
        code = int(state.attr_codes[slot]) if slot < len(state.attr_codes) else 0
        if code > 0:
            onehot[code - 1] = 1.0
        row.extend(onehot)
    row.extend(_circle(state.hour, 24.0))
    row.extend(_circle(state.weekday, 7.0))
    row.append(np.log1p(state.session_depth))
    return np.asarray(row, dtype=np.float32)


def _circle(value: float, period: float) -> tuple[float, float]:
    if not np.isfinite(value):
        return 0.0, 0.0
    angle = 2.0 * np.pi * value / period
    return float(np.sin(angle)), float(np.cos(angle))
