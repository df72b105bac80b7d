"""k-nearest-neighbour similarity matrices for the neighbourhood models.

For rows a, b of a sparse matrix X (items or users as vectors),

    sim(a, b) = x_a . x_b / (n_a n_b + h)

with n the row norms (1 when ``normalise`` is off, e.g. for BM25-weighted rows) and h the
shrinkage term that damps similarities resting on little evidence. Only the k largest
positive similarities of each row are kept (self excluded): a sparse n x n matrix.
The Gram matrix is computed in sparse blocks; when it fits in memory only the upper
block triangle is multiplied and mirrored (it is symmetric), halving the work.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

DENSE_LIMIT = 8_000  # rows: up to this many, the full n x n similarity is held (256 MB)
BLOCK = 1024


def _gram_symmetric(x: sp.csr_matrix, pool: ThreadPoolExecutor) -> np.ndarray:
    n = x.shape[0]
    xt = x.T.tocsc()
    gram = np.empty((n, n), dtype=np.float32)

    def upper_block(start: int) -> None:
        stop = min(start + BLOCK, n)
        part = (x[start:stop] @ xt[:, start:]).toarray()
        gram[start:stop, start:] = part
        gram[start:, start:stop] = part.T

    list(pool.map(upper_block, range(0, n, BLOCK)))
    return gram


def _gram_row_blocks(x: sp.csr_matrix):
    xt = x.T.tocsc()
    for start in range(0, x.shape[0], BLOCK):
        yield start, (x[start : start + BLOCK] @ xt).toarray().astype(np.float32)


def _top_k_rows(block: np.ndarray, offset: int, k: int) -> tuple[np.ndarray, ...]:
    """(rows, cols, values) of the k largest positive entries of each row, self excluded.
    Overwrites ``block``."""
    n_rows, n_cols = block.shape
    rows = np.arange(n_rows)
    block[rows, rows + offset] = -np.inf  # never one's own neighbour
    k_eff = min(k, n_cols - 1)
    if k_eff <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    cols = np.argpartition(block, n_cols - k_eff, axis=1)[:, n_cols - k_eff :]
    values = np.take_along_axis(block, cols, axis=1)
    keep = values > 0
    row_ids = np.broadcast_to(rows[:, None] + offset, cols.shape)
    return row_ids[keep], cols[keep], values[keep]


def top_k_similar(
    x: sp.csr_matrix, k: int, *, shrink: float = 0.0, normalise: bool = True, threads: int = 0
) -> sp.csr_matrix:
    """Sparse n x n matrix of the k most similar rows of ``x`` for each row (see module).

    ``threads`` worker threads (0: one per CPU) share the row blocks; scipy and numpy
    release the GIL in the products and partitions."""
    if k <= 0:
        raise ValueError(f"number of neighbours must be positive, got {k}")
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[0]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()).astype(np.float32)
    inverse = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0.0).astype(np.float32)

    def rows_of(first: int, block: np.ndarray) -> tuple[np.ndarray, ...]:
        if normalise and shrink > 0:
            denominator = np.outer(norms[first : first + len(block)], norms) + shrink
            np.divide(block, np.maximum(denominator, 1e-30), out=block)
        elif normalise:  # in place: scale rows, then columns
            block *= inverse[first : first + len(block), None]
            block *= inverse[None, :]
        elif shrink > 0:
            block /= 1.0 + shrink
        return _top_k_rows(block, first, k)

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        if n <= DENSE_LIMIT:
            gram = _gram_symmetric(x, pool)
            starts = range(0, n, BLOCK)
            parts = list(pool.map(lambda a: rows_of(a, gram[a : a + BLOCK]), starts))
        else:
            parts = [rows_of(a, block) for a, block in _gram_row_blocks(x)]
    rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
    return sp.csr_matrix((values, (rows, cols)), shape=(n, n))
