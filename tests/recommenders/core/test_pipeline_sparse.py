"""Row sums read from CSR arrays equal scipy's own products."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommenders.core.pipeline.sparse import row_sums, weighted_row_sum


def _matrix(seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.random(40, 60, density=0.1, format="csr", random_state=rng, dtype=np.float32)


def test_weighted_row_sum_equals_the_sparse_product():
    for seed in range(20):
        matrix = _matrix(seed)
        rng = np.random.default_rng(seed + 100)
        rows = rng.integers(0, 40, size=rng.integers(1, 8))  # duplicates included
        weights = rng.random(len(rows))
        columns, values = weighted_row_sum(matrix, rows, weights)
        expected = (sp.csr_matrix(weights[None, :]) @ matrix[rows]).toarray().ravel()
        dense = np.zeros(60)
        dense[columns] = values
        assert np.all(np.diff(columns) > 0)
        np.testing.assert_allclose(dense, expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(
            row_sums(matrix, rows), np.asarray(matrix[rows].sum(axis=1)).ravel(), rtol=1e-6
        )


def test_empty_rows_and_no_rows():
    matrix = sp.csr_matrix((3, 4), dtype=np.float32)
    columns, values = weighted_row_sum(matrix, np.array([0, 2]), np.array([1.0, 2.0]))
    assert len(columns) == len(values) == 0
    assert row_sums(matrix, np.array([], dtype=np.int64)).tolist() == []
    assert row_sums(matrix, np.array([1])).tolist() == [0.0]
