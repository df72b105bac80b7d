"""Item-based collaborative filtering (Sarwar et al. 2001, "Item-based collaborative
filtering recommendation algorithms", WWW; Deshpande & Karypis 2004, "Item-based top-N
recommendation algorithms", TOIS).

Each item is a vector over users. Similarities (see ``_neighbours``):

- ``cosine``: s_ij = r_i . r_j / (|r_i| |r_j| + h);
- ``bm25``: rows re-weighted by Okapi BM25 (Robertson & Zaragoza 2009, "The probabilistic
  relevance framework: BM25 and beyond"), with items as documents and users as terms:
  w_ui = r_ui (K1 + 1) / (K1 ((1 - B) + B |i| / avg|i|) + r_ui) * (log N_items - log(1 + |u|)),
  then s_ij = w_i . w_j (the weighting of ``implicit``'s BM25Recommender).

The k most similar items of each item are computed at fit time and stored in
``neighbours`` (n_items x n_items CSR, row i = the neighbours of i with their
similarities). Scores aggregate them over the user's items: s_u = r_u N.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData, Recommender
from recommenders.core.models._neighbours import top_k_similar

SIMILARITIES = ("cosine", "bm25")


def bm25_weight(item_users: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """BM25-weighted copy of an items x users matrix (items = documents, users = terms)."""
    m = sp.coo_matrix(item_users, dtype=np.float64)
    idf = np.log(m.shape[0]) - np.log1p(np.bincount(m.col, minlength=m.shape[1]))
    lengths = np.asarray(m.sum(axis=1)).ravel()
    length_norm = (1.0 - b) + b * lengths / max(lengths.mean(), 1e-12)
    data = m.data * (k1 + 1.0) / (k1 * length_norm[m.row] + m.data) * idf[m.col]
    return sp.csr_matrix((data, (m.row, m.col)), shape=m.shape)


class ItemCFRecommender(Recommender):
    """Item-item kNN. Parameters: ``similarity`` (cosine or bm25), ``neighbours`` (k per
    item), ``shrink`` (h, cosine), ``bm25_k1``, ``bm25_b``, ``num_threads`` (0: one per
    CPU)."""

    name = "item_cf"
    default_params: ClassVar[dict[str, Any]] = {
        "similarity": "bm25",
        "neighbours": 100,
        "shrink": 0.0,
        "bm25_k1": 1.2,
        "bm25_b": 0.75,
        "num_threads": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["similarity"] not in SIMILARITIES:
            raise ValueError(f"item_cf: similarity must be one of {SIMILARITIES}")
        self.neighbours = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, data: InteractionData) -> None:
        p = self.params
        item_users = data.matrix.T.tocsr()
        if p["similarity"] == "bm25":
            weighted = bm25_weight(item_users, p["bm25_k1"], p["bm25_b"])
            self.neighbours = top_k_similar(
                weighted, p["neighbours"], normalise=False, threads=p["num_threads"]
            )
        else:
            self.neighbours = top_k_similar(
                item_users, p["neighbours"], shrink=p["shrink"], threads=p["num_threads"]
            )
        self.user_items = data.matrix.astype(np.float32)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return (self.user_items[user_indices] @ self.neighbours).toarray()

    def _save_state(self, folder: Path) -> None:
        sp.save_npz(folder / "neighbours.npz", self.neighbours)
        sp.save_npz(folder / "user_items.npz", self.user_items)

    def _load_state(self, folder: Path) -> None:
        self.neighbours = sp.csr_matrix(sp.load_npz(folder / "neighbours.npz"))
        self.user_items = sp.csr_matrix(sp.load_npz(folder / "user_items.npz"))
