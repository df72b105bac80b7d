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

import numpy as np
import scipy.sparse as sp

DENSE_LIMIT = 8_000  # rows: up to this many, the full n x n similarity is held (256 MB)
BLOCK = 1024


def _gram_symmetric(x: sp.csr_matrix) -> np.ndarray:
    n = x.shape[0]
    xt = x.T.tocsc()
    gram = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        part = (x[start:stop] @ xt[:, start:]).toarray()
        gram[start:stop, start:] = part
        gram[start:, start:stop] = part.T
    return gram


def _gram_row_blocks(x: sp.csr_matrix):
    xt = x.T.tocsc()
    for start in range(0, x.shape[0], BLOCK):
        yield start, (x[start : start + BLOCK] @ xt).toarray().astype(np.float32)


def _top_k_rows(block: np.ndarray, offset: int, k: int) -> tuple[np.ndarray, ...]:
    rows = np.arange(block.shape[0])
    block[rows, rows + offset] = -np.inf  # never one's own neighbour
    k_eff = min(k, block.shape[1] - 1)
    if k_eff <= 0:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.float32),)
    cols = np.argpartition(-block, k_eff - 1, axis=1)[:, :k_eff]
    values = np.take_along_axis(block, cols, axis=1)
    keep = values > 0
    row_ids = np.broadcast_to(rows[:, None] + offset, cols.shape)
    return row_ids[keep], cols[keep], values[keep]


def top_k_similar(
    x: sp.csr_matrix, k: int, *, shrink: float = 0.0, normalise: bool = True
) -> sp.csr_matrix:
    """Sparse n x n matrix of the k most similar rows of ``x`` for each row (see module)."""
    if k <= 0:
        raise ValueError(f"number of neighbours must be positive, got {k}")
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[0]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()) if normalise else np.ones(n)
    norms = norms.astype(np.float32)
    blocks = ((0, _gram_symmetric(x)),) if n <= DENSE_LIMIT else _gram_row_blocks(x)
    parts = []
    for start, gram in blocks:
        for sub in range(0, gram.shape[0], BLOCK):
            block = gram[sub : sub + BLOCK]
            first = start + sub
            denominator = np.outer(norms[first : first + len(block)], norms) + shrink
            with np.errstate(divide="ignore", invalid="ignore"):
                block = np.where(denominator > 0, block / denominator, 0.0).astype(np.float32)
            parts.append(_top_k_rows(block, first, k))
    rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
    return sp.csr_matrix((values, (rows, cols)), shape=(n, n))
