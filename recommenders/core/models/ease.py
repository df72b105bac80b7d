"""EASE: Embarrassingly Shallow Autoencoder (Steck 2019, "Embarrassingly shallow
autoencoders for sparse data", WWW).

Closed form of min_B |X - X B|_F^2 + lambda |B|_F^2 subject to diag(B) = 0:

    G = X^T X + lambda I,   P = G^{-1},   B_ij = -P_ij / P_jj  (i != j),   B_jj = 0

Scores s_u = x_u B. The item x item inverse is dense, so the catalogue must fit in
memory (``max_items``, default 20,000 items: 3.2 GB in float64 at the limit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recommenders.core.base import InteractionData, Recommender


class EASERecommender(Recommender):
    """Parameters: ``regularization`` (lambda), ``binary`` (fit on 0/1 instead of the
    values), ``max_items`` (refuse larger catalogues)."""

    name = "ease"
    default_params: ClassVar[dict[str, Any]] = {
        "regularization": 250.0,
        "binary": True,
        "max_items": 20_000,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.weights = np.zeros((0, 0), np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, data: InteractionData) -> None:
        if data.n_items > self.params["max_items"]:
            raise ValueError(
                f"ease: {data.n_items} items exceed max_items={self.params['max_items']} "
                "(the dense item x item inverse would not fit); use als or item_cf"
            )
        x = data.matrix.astype(np.float64)
        if self.params["binary"]:
            x.data[:] = 1.0
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.params["regularization"]
        # G is symmetric positive definite: invert through its Cholesky factor
        precision = scipy.linalg.cho_solve(
            scipy.linalg.cho_factor(gram, overwrite_a=True), np.eye(data.n_items)
        )
        weights = -precision / np.diag(precision)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights = weights.astype(np.float32)
        self.user_items = x.astype(np.float32).tocsr()

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_items[user_indices] @ self.weights)

    def _save_state(self, folder: Path) -> None:
        np.save(folder / "weights.npy", self.weights)
        sp.save_npz(folder / "user_items.npz", self.user_items)

    def _load_state(self, folder: Path) -> None:
        self.weights = np.load(folder / "weights.npy")
        self.user_items = sp.csr_matrix(sp.load_npz(folder / "user_items.npz"))
