"""User-based collaborative filtering (Resnick et al. 1994, "GroupLens"; Herlocker et al.
1999, "An algorithmic framework for performing collaborative filtering", SIGIR).

Each user is a vector over items. Similarity (see ``_neighbours``):

- ``cosine`` (implicit feedback): s_uv = r_u . r_v / (|r_u| |r_v| + h);
- ``pearson`` (ratings): the same on mean-centred ratings z_ui = r_ui - mean_u over
  the user's rated items, i.e. Pearson correlation with unrated items at the mean.

h is the shrinkage. The k most similar users with positive similarity are kept
(``neighbours``, users x users CSR); a user's scores are the similarity-weighted sum of
the neighbours' interactions, s_ui = sum_{v in N_k(u)} s_uv r_vi.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData, Recommender
from recommenders.core.models._neighbours import top_k_similar

SIMILARITIES = ("cosine", "pearson")


def mean_centred(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row's stored values minus that row's mean over its stored values."""
    m = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    counts = np.maximum(np.diff(m.indptr), 1)
    means = np.asarray(m.sum(axis=1)).ravel() / counts
    m.data -= np.repeat(means, np.diff(m.indptr))
    return m


class UserCFRecommender(Recommender):
    """User-user kNN. Parameters: ``similarity`` (cosine or pearson), ``neighbours``
    (k per user), ``shrink`` (h), ``num_threads`` (0: one per CPU)."""

    name = "user_cf"
    default_params: ClassVar[dict[str, Any]] = {
        "similarity": "cosine",
        "neighbours": 50,
        "shrink": 10.0,
        "num_threads": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["similarity"] not in SIMILARITIES:
            raise ValueError(f"user_cf: similarity must be one of {SIMILARITIES}")
        self.neighbours = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, data: InteractionData) -> None:
        p = self.params
        vectors = data.matrix if p["similarity"] == "cosine" else mean_centred(data.matrix)
        self.neighbours = top_k_similar(
            vectors, p["neighbours"], shrink=p["shrink"], threads=p["num_threads"]
        )
        self.user_items = data.matrix.astype(np.float32)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return (self.neighbours[user_indices] @ self.user_items).toarray()

    def _save_state(self, folder: Path) -> None:
        sp.save_npz(folder / "neighbours.npz", self.neighbours)
        sp.save_npz(folder / "user_items.npz", self.user_items)

    def _load_state(self, folder: Path) -> None:
        self.neighbours = sp.csr_matrix(sp.load_npz(folder / "neighbours.npz"))
        self.user_items = sp.csr_matrix(sp.load_npz(folder / "user_items.npz"))
