"""Candidate generation: the union of several sources, each with its quota.

Sources, in priority order (an item found by several keeps the first as its tag and all
of them in a bit mask, a ranking feature):

- ``ann``: the nearest items to the two-tower user vector (FAISS inner product);
- ``item_cf``: neighbours of the user's recent items, s_j = sum_r w_r N_rj with
  recency weights w_r = decay^r (r = 0 for the latest item) and N the item-CF
  neighbour matrix;
- ``category_trending``: the trending items of the user's top categories (affinity,
  or stated liked categories);
- ``trending``: globally trending items at the reference time;
- ``fresh``: items with fewer than ``fresh_max_interactions`` interactions, nearest to
  the user vector (their own ANN index, so a new item is retrievable at once);
- ``demographic``: the preferences of users with the same demographics (naive-Bayes
  lift, see :mod:`cold_start`), for users with little history;
- ``sequence``: the likeliest next items after the user's latest ones (smoothed Markov
  chain, see :mod:`sequence`).

Seen items and items barred by the content policy are never candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.pipeline.sparse import weighted_row_sum

SOURCES = (
    "ann",
    "item_cf",
    "category_trending",
    "trending",
    "fresh",
    "demographic",
    "sequence",
)
DEFAULT_QUOTAS = {
    "ann": 300,
    "item_cf": 150,
    "category_trending": 45,
    "trending": 20,
    "fresh": 20,
    "demographic": 30,
    "sequence": 50,
}


@dataclass
class UserState:
    """Everything the pipeline knows about the requesting user, request time included."""

    user_index: int | None
    history: np.ndarray  # item indices, oldest first
    exclude: np.ndarray  # item indices never to return (seen, blocked)
    vector: np.ndarray  # two-tower user vector (d,)
    category_affinity: np.ndarray  # n_categories, shares
    preferred_categories: np.ndarray  # category indices stated as liked
    attr_codes: np.ndarray  # feature-store attribute codes
    creator_counts: np.ndarray  # per creator code
    activity: float  # number of interactions
    last_ts: float  # unix seconds of the latest interaction (0 unknown)
    reference_ts: float  # the request time (offline: the latest interaction)
    session_depth: float  # requests so far in the session
    hour: float  # 0-23 or NaN
    weekday: float  # 0-6 or NaN


@dataclass
class Candidates:
    """Candidate items with their first source, all sources and per-source scores."""

    items: np.ndarray  # int64
    source: np.ndarray  # int8, index into SOURCES
    source_mask: np.ndarray  # int64 bit mask over SOURCES
    cf_score: np.ndarray  # float32, item-CF aggregated similarity (0 when not computed)

    def __len__(self) -> int:
        return len(self.items)

    def source_names(self) -> list[str]:
        return [SOURCES[s] for s in self.source]


def top_items(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest positive scores, best first (ties: lower index first)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        part = np.argpartition(-scores[positive], k - 1)[:k]
        positive = positive[part]
    order = np.lexsort((positive, -scores[positive]))
    return positive[order]


class CandidateGenerator:
    """Builds the candidate set for one user from the fitted sources."""

    def __init__(
        self,
        retrieve: Any,
        neighbours: sp.csr_matrix,
        category_items: list[np.ndarray],
        fresh_index: AnnIndex | None,
        fresh_items: np.ndarray,
        params: dict[str, Any],
    ) -> None:
        self.retrieve = retrieve  # (vector, k, exclude) -> (scores, items)
        self.neighbours = neighbours
        self.category_items = category_items
        self.fresh_index = fresh_index
        self.fresh_items = fresh_items
        self.params = params

    def item_cf_scores(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """s_j = sum_r decay^r N[h_r, j] over the ``recent_items`` latest history items, as
        sparse (item indices sorted, scores): only the neighbours' entries are touched."""
        recent = history[::-1][: self.params["recent_items"]]
        recent = recent[recent < self.neighbours.shape[0]]
        if len(recent) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        weights = self.params["recency_decay"] ** np.arange(len(recent), dtype=np.float64)
        indices, values = weighted_row_sum(self.neighbours, recent, weights)
        return indices, values.astype(np.float32)

    @staticmethod
    def lookup(indices: np.ndarray, values: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Values of a sparse (sorted indices, values) vector at ``items`` (0 elsewhere)."""
        if len(indices) == 0:
            return np.zeros(len(items), np.float32)
        where = np.minimum(np.searchsorted(indices, items), len(indices) - 1)
        return np.where(indices[where] == items, values[where], 0.0).astype(np.float32)

    def generate(
        self,
        state: UserState,
        trend: np.ndarray,
        demographic: np.ndarray | None,
        n_items: int,
        next_scores: np.ndarray | None = None,
    ) -> Candidates:
        """Candidates for ``state``; ``trend`` holds the trending scores of the tracked items
        at the request time, ``demographic`` the demographic preference scores (or None),
        ``next_scores`` the next-item probabilities (or None: no ``sequence`` source)."""
        quotas = {**DEFAULT_QUOTAS, **self.params.get("quotas", {})}
        exclude = np.unique(state.exclude)
        parts: list[tuple[int, np.ndarray]] = []
        if quotas["ann"] > 0:
            _, items = self.retrieve(state.vector, quotas["ann"], exclude)
            parts.append((0, items))
        cf = self.item_cf_scores(state.history)
        if quotas["item_cf"] > 0 and len(cf[0]):
            cf_values = np.where(np.isin(cf[0], exclude), 0.0, cf[1])
            parts.append((1, cf[0][top_items(cf_values, quotas["item_cf"])]))
        masked_trend = trend.copy()
        masked_trend[exclude[exclude < len(trend)]] = 0.0
        if quotas["category_trending"] > 0:
            parts.append((2, self._category_trending(state, masked_trend, quotas)))
        if quotas["trending"] > 0:
            parts.append((3, top_items(masked_trend, quotas["trending"])))
        if quotas["fresh"] > 0 and self.fresh_index is not None and len(self.fresh_items):
            _, rows = self.fresh_index.search(state.vector, quotas["fresh"] + len(exclude))
            fresh = self.fresh_items[rows[0][rows[0] >= 0]]
            parts.append((4, fresh[~np.isin(fresh, exclude)][: quotas["fresh"]]))
        light = len(state.history) < self.params["demographic_max_history"]
        if demographic is not None and quotas["demographic"] > 0 and light:
            masked = demographic.copy()
            masked[exclude[exclude < len(masked)]] = -np.inf
            parts.append((5, _top_finite(masked, quotas["demographic"])))
        if next_scores is not None and quotas["sequence"] > 0:
            masked = next_scores.copy()
            masked[exclude[exclude < len(masked)]] = 0.0
            parts.append((6, top_items(masked, quotas["sequence"])))
        return self._union(parts, exclude, cf)

    def _category_trending(self, state: UserState, trend: np.ndarray, quotas: dict) -> np.ndarray:
        n_top = self.params["top_categories"]
        if len(state.preferred_categories):
            chosen = np.asarray(state.preferred_categories, dtype=np.int64)[:n_top]
        elif state.category_affinity.sum() > 0:
            chosen = np.argsort(-state.category_affinity, kind="stable")[:n_top]
            chosen = chosen[state.category_affinity[chosen] > 0]
        else:  # no taste known: popular across categories
            chosen = np.arange(min(len(self.category_items), n_top * 3))
        if len(chosen) == 0:
            return np.zeros(0, np.int64)
        per_category = max(1, quotas["category_trending"] // len(chosen))
        found = []
        for category in chosen:
            members = self.category_items[category]
            members = members[members < len(trend)]
            found.append(members[top_items(trend[members], per_category)])
        return np.concatenate(found)

    def _union(self, parts: list[tuple[int, np.ndarray]], exclude: np.ndarray, cf: tuple):
        if not parts:
            empty = np.zeros(0, np.int64)
            return Candidates(empty, empty.astype(np.int8), empty, empty.astype(np.float32))
        items = np.concatenate([p[1] for p in parts]).astype(np.int64)
        sources = np.concatenate([np.full(len(p[1]), p[0], np.int64) for p in parts])
        keep = ~np.isin(items, exclude)
        items, sources = items[keep], sources[keep]
        unique, first, inverse = np.unique(items, return_index=True, return_inverse=True)
        mask = np.zeros(len(unique), np.int64)
        np.bitwise_or.at(mask, inverse, 1 << sources)
        order = np.argsort(first, kind="stable")[: self.params["n_candidates"]]
        chosen = unique[order]
        return Candidates(
            chosen,
            sources[first[order]].astype(np.int8),
            mask[order],
            self.lookup(cf[0], cf[1], chosen),
        )


def _top_finite(scores: np.ndarray, k: int) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > k:
        finite = finite[np.argpartition(-scores[finite], k - 1)[:k]]
    return finite[np.lexsort((finite, -scores[finite]))]
