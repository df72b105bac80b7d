"""What serving knows about the items beyond a model: categories, popularity, blocked ones.

An :class:`ItemCatalogue` is index-aligned with a model's item axis. The business rules
(:mod:`recommenders.core.rules`) read its category matrix for ``blocked_categories`` and
``max_per_category``; cold start (:mod:`recommenders.core.cold_start`) reads its categories
and popularity. A model built on side features (the pipeline) has one of its own; a serving
worker builds one from a version's artifacts (each item's category names, the catalogue's
blocked items) and passes it to every model alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass
class ItemCatalogue:
    """Item categories (``n_items x n_categories`` 0/1, columns named by ``category_names``)
    and each item's popularity (higher is more popular)."""

    categories: sp.csr_matrix
    category_names: list[str]
    item_popularity: np.ndarray

    @classmethod
    def without_categories(cls, item_popularity: np.ndarray) -> ItemCatalogue:
        """A catalogue that knows popularity only (a model fitted without side features)."""
        n_items = len(item_popularity)
        return cls(sp.csr_matrix((n_items, 0), dtype=np.float32), [], item_popularity)

    @classmethod
    def from_category_lists(
        cls, item_categories: list[list[str]], item_popularity: np.ndarray
    ) -> ItemCatalogue:
        """From each item's category names (columns: the names sorted)."""
        names = sorted({name for names in item_categories for name in names})
        column = {name: position for position, name in enumerate(names)}
        rows = np.repeat(np.arange(len(item_categories)), [len(c) for c in item_categories])
        cols = [column[name] for names_ in item_categories for name in names_]
        matrix = sp.csr_matrix(
            (np.ones(len(cols), np.float32), (rows, np.asarray(cols, np.int64))),
            shape=(len(item_categories), len(names)),
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return cls(matrix, names, np.asarray(item_popularity, dtype=np.float64))

    @property
    def n_items(self) -> int:
        return self.categories.shape[0]

    @cached_property
    def popularity_order(self) -> np.ndarray:
        """Item indices, most popular first (ties to the lower index)."""
        return np.argsort(-np.asarray(self.item_popularity, np.float64), kind="stable")

    def category_indices(self, names: Iterable[str]) -> np.ndarray:
        """Column indices of the known names among ``names`` (unknown ones are ignored)."""
        column = {name: position for position, name in enumerate(self.category_names)}
        return np.asarray(sorted({column[n] for n in names if n in column}), dtype=np.int64)

    def in_categories(self, columns: np.ndarray) -> np.ndarray:
        """True for items in at least one of the category ``columns``."""
        if len(columns) == 0:
            return np.zeros(self.n_items, dtype=bool)
        return np.asarray(self.categories[:, columns].sum(axis=1)).ravel() > 0


def rules_by_index(
    config_rules: Mapping[str, Any],
    item_index: Mapping[str, int],
    catalogue: ItemCatalogue,
    catalogue_blocked: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A configuration's rules (external item ids, category names) in item-index terms.

    ``blocked_items`` becomes every blocked index: the catalogue's blocked items
    (``catalogue_blocked``, external ids), the rules' ``blocked_items`` and every item in
    one of the rules' ``blocked_categories`` (unknown ids and names block nothing); the
    other keys pass as they are, over the model's ``defaults``.
    """
    blocked_ids = {str(i) for i in catalogue_blocked} | {
        str(i) for i in config_rules.get("blocked_items", [])
    }
    blocked = catalogue.in_categories(
        catalogue.category_indices(config_rules.get("blocked_categories", []))
    )
    indices = [item_index[i] for i in blocked_ids if i in item_index]
    blocked[np.asarray(indices, dtype=np.int64)] = True
    rules = {**(defaults or {}), **config_rules}
    rules.pop("blocked_categories", None)
    rules["blocked_items"] = np.flatnonzero(blocked).tolist()
    return rules
