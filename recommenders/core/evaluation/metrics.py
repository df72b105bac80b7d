"""Ranking and rating metrics, vectorised over users.

For a user with relevant set T (held-out items), a top-k list L = (l_1..l_k) and
hit_j = [l_j in T]:

    HR@k        = [sum_j hit_j > 0]
    recall@k    = sum_j hit_j / |T|
    precision@k = sum_j hit_j / k
    NDCG@k      = sum_j hit_j / log2(j + 1)  /  sum_{j <= min(|T|, k)} 1 / log2(j + 1)
    MAP@k       = sum_j hit_j * precision@j / min(|T|, k)

(Järvelin & Kekäläinen 2002 for NDCG.) Catalogue coverage is the share of items that
appear in at least one list; popularity bias is the mean popularity percentile (0-100,
by number of training users, ties averaged) of the recommended items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata


def hit_matrix(item_indices: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean n x k: whether item_indices[u, j] is in row u of ``relevant``."""
    n_users, n_items = relevant.shape
    relevant = relevant.tocsr()
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevant.indptr))
    keys = np.sort(rows * n_items + relevant.indices)
    if len(keys) == 0:
        return np.zeros(item_indices.shape, dtype=bool)
    query = np.arange(n_users, dtype=np.int64)[:, None] * n_items + item_indices
    found = np.searchsorted(keys, query)
    found = np.minimum(found, len(keys) - 1)
    return (item_indices >= 0) & (keys[found] == query)


def ranking_metrics(item_indices: np.ndarray, relevant: sp.csr_matrix) -> dict[str, float]:
    """HR, recall, precision, NDCG and MAP at k = item_indices.shape[1], averaged over
    the rows (rows with an empty relevant set count as zeros; pass only evaluated users)."""
    k = item_indices.shape[1]
    hits = hit_matrix(item_indices, relevant).astype(np.float64)
    n_relevant = np.diff(relevant.tocsr().indptr).astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k).astype(int) - 1]
    denominator = np.maximum(n_relevant, 1)
    precision_at_j = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndcg = np.where(n_relevant > 0, hits @ discounts / ideal, 0.0)
        average_precision = (hits * precision_at_j).sum(1) / np.minimum(denominator, k)
    return {
        "hr": float(np.mean(hits.sum(1) > 0)),
        "recall": float(np.mean(hits.sum(1) / denominator)),
        "precision": float(np.mean(hits.sum(1) / k)),
        "ndcg": float(np.mean(ndcg)),
        "map": float(np.mean(average_precision)),
    }


def catalogue_coverage(item_indices: np.ndarray, n_items: int) -> float:
    """Share of the catalogue recommended to at least one user."""
    listed = np.unique(item_indices[item_indices >= 0])
    return float(len(listed) / n_items) if n_items else 0.0


def popularity_percentiles(item_popularity: np.ndarray) -> np.ndarray:
    """Percentile (0-100] of each item's popularity among all items, ties averaged."""
    return rankdata(item_popularity, method="average") / len(item_popularity) * 100.0


def popularity_bias(item_indices: np.ndarray, item_popularity: np.ndarray) -> float:
    """Mean popularity percentile of the recommended items (50 = unbiased, 100 = only
    the most popular)."""
    listed = item_indices[item_indices >= 0]
    if len(listed) == 0:
        return float("nan")
    return float(popularity_percentiles(item_popularity)[listed].mean())


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error sqrt(mean((r_hat - r)^2))."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error mean(|r_hat - r|)."""
    return float(np.mean(np.abs(np.asarray(predicted) - np.asarray(actual))))
