"""Weighted sums of a few rows of a CSR matrix, read straight from its arrays.

Per request the pipeline sums a handful of rows of large sparse matrices (item neighbours,
next-item counts). scipy's ``matrix[rows]`` followed by a sparse product builds three
intermediate matrices and validates each: several times the arithmetic's cost at this size.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["row_sums", "weighted_row_sum"]


def _row_slices(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``matrix.indices``/``data`` of ``rows``' entries, and each entry's row
    number within ``rows``."""
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1].astype(np.int64) - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    return starts[owner] + offsets, owner


def weighted_row_sum(
    matrix: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``sum_r weights[r] * matrix[rows[r]]`` as (sorted column indices, values): the columns
    present in those rows whose sum is not zero, as scipy's product keeps them (duplicated
    rows add up)."""
    rows = np.asarray(rows, dtype=np.int64)
    positions, owner = _row_slices(matrix, rows)
    if len(positions) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    columns, inverse = np.unique(matrix.indices[positions], return_inverse=True)
    values = np.bincount(
        inverse, weights=matrix.data[positions] * np.asarray(weights, np.float64)[owner]
    )
    nonzero = values != 0
    return columns[nonzero].astype(np.int64), values[nonzero]


def row_sums(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The sum of each of ``rows`` (float64)."""
    rows = np.asarray(rows, dtype=np.int64)
    positions, owner = _row_slices(matrix, rows)
    return np.bincount(owner, weights=matrix.data[positions], minlength=len(rows))
