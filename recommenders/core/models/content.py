"""Content-based recommender: items as feature vectors, users as the recency-weighted
average of the vectors of the items they interacted with (Pazzani & Billsus 2007,
"Content-based recommendation systems", The Adaptive Web).

Item vector v_i = [w_c c_i, w_t t_i, w_n z_i], each block L2-normalised, with c_i the
one-hot categories, t_i the TF-IDF of the text (tf * (ln((1 + n) / (1 + df)) + 1),
Salton & Buckley 1988), z_i the numeric attributes standardised per column (unknown ->
the column mean, i.e. 0). User profile

    p_u = sum_i a_ui v_i / sum_i a_ui,   a_ui = r_ui 2^{-(t_u^max - t_ui) / h}

(h the half-life in days; uniform in time without timestamps) and s_ui = p_u . v_i.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommenders.core.base import InteractionData, ItemFeatures, Recommender

SECONDS_PER_DAY = 86_400.0


def normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    m = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)) @ m)


def tfidf(texts: list[str], min_df: int = 1) -> sp.csr_matrix:
    """TF-IDF (raw counts x smoothed idf) of lower-cased alphanumeric tokens, L2 rows."""
    tokens = pd.Series(texts, dtype=object).fillna("").str.lower().str.findall(r"[a-z0-9]+")
    exploded = tokens.explode().dropna()
    if exploded.empty:
        return sp.csr_matrix((len(texts), 0))
    rows = exploded.index.to_numpy()
    vocabulary, cols = np.unique(exploded.to_numpy(dtype=str), return_inverse=True)
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocabulary)))
    df = np.bincount(sp.coo_matrix(counts).col, minlength=len(vocabulary))
    counts = counts[:, df >= min_df]
    df = df[df >= min_df]
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    return normalise_rows(counts @ sp.diags(idf))


def standardised(numeric: np.ndarray) -> np.ndarray:
    """Columns as z-scores; NaN (unknown) and constant columns become 0."""
    mean = np.nanmean(numeric, axis=0)
    std = np.nanstd(numeric, axis=0)
    z = (numeric - mean) / np.where(std > 0, std, 1.0)
    return np.nan_to_num(z, nan=0.0)


def item_vectors(features: ItemFeatures, n_items: int, weights: tuple[float, ...]) -> sp.csr_matrix:
    """The concatenated, block-normalised and weighted item vectors (see module)."""
    blocks = []
    if features.categories is not None and features.categories.shape[1]:
        blocks.append(weights[0] * normalise_rows(features.categories))
    if features.texts is not None:
        blocks.append(weights[1] * tfidf(features.texts))
    if features.numeric is not None and features.numeric.shape[1]:
        z = sp.csr_matrix(standardised(np.asarray(features.numeric, dtype=np.float64)))
        blocks.append(weights[2] * normalise_rows(z))
    if not blocks or sum(b.shape[1] for b in blocks) == 0:
        raise ValueError("content: the items have no categories, text or numeric features")
    vectors = sp.hstack(blocks, format="csr")
    if vectors.shape[0] != n_items:
        raise ValueError("content: item features are not aligned with the item axis")
    return vectors.astype(np.float32)


class ContentRecommender(Recommender):
    """Parameters: ``category_weight``, ``text_weight``, ``numeric_weight`` (w_c, w_t,
    w_n), ``half_life_days`` (h; None = no recency weighting)."""

    name = "content"
    default_params: ClassVar[dict[str, Any]] = {
        "category_weight": 1.0,
        "text_weight": 0.5,
        "numeric_weight": 0.25,
        "half_life_days": 180.0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.item_vectors = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_profiles = sp.csr_matrix((0, 0), dtype=np.float32)

    def _recency_weights(self, data: InteractionData) -> sp.csr_matrix:
        weights = sp.csr_matrix(data.matrix, dtype=np.float64, copy=True)
        weights.data = np.abs(weights.data)
        half_life = self.params["half_life_days"]
        if data.timestamps is not None and half_life:
            times = data.timestamps
            if not np.array_equal(times.indices, weights.indices):
                raise ValueError("content: timestamps not aligned with the interaction matrix")
            counts = np.diff(times.indptr)
            starts = times.indptr[:-1][counts > 0]
            latest = np.repeat(np.maximum.reduceat(times.data, starts), counts[counts > 0])
            weights.data *= np.exp2(-(latest - times.data) / (half_life * SECONDS_PER_DAY))
        totals = np.asarray(weights.sum(axis=1)).ravel()
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(totals, 1e-300)) @ weights)

    def _fit(self, data: InteractionData) -> None:
        if data.item_features is None:
            raise ValueError("content: the data has no item features")
        p = self.params
        self.item_vectors = item_vectors(
            data.item_features,
            data.n_items,
            (p["category_weight"], p["text_weight"], p["numeric_weight"]),
        )
        self.user_profiles = (self._recency_weights(data) @ self.item_vectors).astype(np.float32)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return (self.user_profiles[user_indices] @ self.item_vectors.T).toarray()

    def _save_state(self, folder: Path) -> None:
        sp.save_npz(folder / "item_vectors.npz", self.item_vectors)
        sp.save_npz(folder / "user_profiles.npz", self.user_profiles)

    def _load_state(self, folder: Path) -> None:
        self.item_vectors = sp.csr_matrix(sp.load_npz(folder / "item_vectors.npz"))
        self.user_profiles = sp.csr_matrix(sp.load_npz(folder / "user_profiles.npz"))
