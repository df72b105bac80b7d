"""Cold start: what a user the model cannot answer from a history is served, for every model.

Every model (:meth:`recommenders.core.base.Recommender.recommend_one`): popular items in
the categories the user stated as liked, or in the categories of the items they liked
(:func:`cold_start_candidates`), then the rest by popularity.

The pipeline adds demographic neighbours' preferences.
Demographic preferences are a naive-Bayes combination of per-attribute item
distributions (the preferences of the users who share each attribute value)::

    log p(i | a) = log p(i) + sum_attr [ log p(i | attr = a_attr) - log p(i) ]
    p(i | attr = v) = (n_{v,i} + alpha p(i)) / (N_v + alpha)

with n_{v,i} the interactions of item i by users with value v, N_v their total and p(i)
the global share of item i (additive smoothing towards it, Lidstone). Unknown attribute
values contribute nothing, so a user without demographics gets the global popularity.

A new user with no history is ranked by these scores (popularity when demographics are
unknown); items of categories the user stated as liked get a bonus of
``preferred_category_bonus`` nats. The pipeline's category caps (rules) then spread the
list across categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.item_catalogue import ItemCatalogue


@dataclass
class DemographicPreferences:
    """log p(i) and per-attribute log-lifts over the tracked items."""

    log_prior: np.ndarray  # n_items
    log_lift: list[np.ndarray] = field(default_factory=list)  # per attribute: (V+1) x n_items

    @classmethod
    def fit(
        cls, seen: sp.csr_matrix, attr_codes: np.ndarray, smoothing: float = 50.0
    ) -> DemographicPreferences:
        counts = np.asarray(seen.sum(axis=0), dtype=np.float64).ravel()
        prior = (counts + 1.0) / (counts.sum() + len(counts))
        log_lift = []
        for slot in range(attr_codes.shape[1]):
            codes = attr_codes[:, slot]
            n_values = int(codes.max()) if len(codes) else 0
            membership = sp.csr_matrix(
                (np.ones(len(codes)), (codes, np.arange(len(codes)))),
                shape=(n_values + 1, len(codes)),
            )
            by_value = np.asarray((membership @ seen).todense(), dtype=np.float64)
            totals = by_value.sum(axis=1, keepdims=True)
            conditional = (by_value + smoothing * prior) / (totals + smoothing)
            lift = np.log(conditional) - np.log(prior)
            lift[0] = 0.0  # code 0: unknown value
            log_lift.append(lift.astype(np.float32))
        return cls(np.log(prior).astype(np.float32), log_lift)

    def scores(self, attr_codes: np.ndarray) -> np.ndarray:
        """log p(i | the user's attributes), up to a constant, for every tracked item."""
        total = self.log_prior.copy()
        for slot, code in enumerate(np.asarray(attr_codes, dtype=np.int64)):
            lift = self.log_lift[slot]
            if 0 < code < len(lift):
                total += lift[code]
        return total

    def knows(self, attr_codes: np.ndarray) -> bool:
        """True when at least one attribute value is known."""
        return bool(np.any(np.asarray(attr_codes) > 0))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"log_prior": self.log_prior}
        out.update({f"log_lift_{slot}": lift for slot, lift in enumerate(self.log_lift)})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> DemographicPreferences:
        n = len([name for name in arrays if name.startswith("log_lift_")])
        return cls(arrays["log_prior"], [arrays[f"log_lift_{slot}"] for slot in range(n)])


def cold_user_scores(
    base_scores: np.ndarray,
    item_categories: sp.csr_matrix,
    preferred_categories: np.ndarray,
    bonus: float,
) -> np.ndarray:
    """Scores over the catalogue for a user without history: ``base_scores`` (demographic
    log-preferences or log-popularity, -inf beyond the tracked items) plus ``bonus`` for
    items in a liked category."""
    n_items = item_categories.shape[0]
    scores = np.full(n_items, -np.inf, dtype=np.float32)
    scores[: len(base_scores)] = base_scores[:n_items]
    if len(preferred_categories):
        liked = np.asarray(item_categories[:, preferred_categories].sum(axis=1)).ravel() > 0
        scores = np.where(liked, scores + bonus, scores)
    return scores


def cold_start_candidates(
    catalogue: ItemCatalogue, preferences: dict[str, Any], n: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The best ``n`` (item indices, scores, sources) for a user without a usable history:
    popular items in the liked categories (``preferences["categories"]``, names, and those
    of ``preferences["items"]``, item indices), then popular ones; liked items themselves
    are not served again.

    Score = rank-based popularity ``1 / (1 + rank)`` in (0, 1], plus 1 inside the liked
    categories: every liked-category item comes first, popularity orders within both parts.
    Sources: ``cold_start_preferences`` inside the liked categories, else ``popular``.
    """
    n_items = catalogue.n_items
    liked_items = np.asarray(
        [i for i in preferences.get("items", []) if 0 <= int(i) < n_items], dtype=np.int64
    )
    liked_names = set(preferences.get("categories", []))
    if len(liked_items):
        columns = np.unique(catalogue.categories[liked_items].indices)
        liked_names.update(catalogue.category_names[c] for c in columns)
    in_liked = catalogue.in_categories(catalogue.category_indices(liked_names))
    order = catalogue.popularity_order
    scores = np.empty(n_items, dtype=np.float64)
    scores[order] = 1.0 / (1.0 + np.arange(n_items))
    scores[in_liked] += 1.0
    scores[liked_items] = -np.inf
    top = np.argsort(-scores, kind="stable")[:n]
    top = top[np.isfinite(scores[top])]
    sources = ["cold_start_preferences" if in_liked[i] else "popular" for i in top.tolist()]
    return top.astype(np.int64), scores[top], sources
