"""Offline evaluation protocols: train/test splits of an InteractionData.

Every split keeps the full user x item index space, so a model fitted on ``train``
answers in the same indices that ``test`` holds.

- leave-last-out: each user's latest interaction by timestamp is the test item, ties
  broken by the later input row (``InteractionData.sequence``); users with fewer than 2
  interactions keep everything in train and are not evaluated.
- temporal: a global cut-off time; interactions at or after it are the test set
  (evaluated: users with interactions on both sides).
- random: a seeded share of each user's interactions is held out (users keep >= 1).
- k-fold: a seeded partition of all interactions into k folds, for rating prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData


@dataclass
class Split:
    """``train`` to fit on; ``test`` (users x items, held-out values) to score against."""

    train: InteractionData
    test: sp.csr_matrix
    protocol: str

    @property
    def test_users(self) -> np.ndarray:
        """Users with at least one held-out interaction (the evaluated users)."""
        return np.flatnonzero(np.diff(self.test.indptr))


def _aligned(data: InteractionData, extra: sp.csr_matrix | None, name: str) -> np.ndarray:
    if extra is None:
        return np.zeros(data.matrix.nnz)
    same = extra.nnz == data.matrix.nnz and np.array_equal(extra.indices, data.matrix.indices)
    if not (same and np.array_equal(extra.indptr, data.matrix.indptr)):
        raise ValueError(f"{name}: sparsity pattern differs from the interaction matrix")
    return extra.data


def _entry_rows(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def select_entries(data: InteractionData, keep: np.ndarray) -> InteractionData:
    """The same InteractionData restricted to the matrix entries (CSR order) where ``keep``
    is True."""

    def filtered(m: sp.csr_matrix | None) -> sp.csr_matrix | None:
        if m is None:
            return None
        rows = _entry_rows(m)[keep]
        return sp.csr_matrix((m.data[keep], (rows, m.indices[keep])), shape=m.shape)

    return replace(
        data,
        matrix=filtered(data.matrix),
        timestamps=filtered(data.timestamps),
        sequence=filtered(data.sequence),
    )


def _split(data: InteractionData, is_test: np.ndarray, protocol: str) -> Split:
    m = data.matrix
    rows = _entry_rows(m)[is_test]
    test = sp.csr_matrix((m.data[is_test], (rows, m.indices[is_test])), shape=m.shape)
    return Split(train=select_entries(data, ~is_test), test=test, protocol=protocol)


def leave_last_out(data: InteractionData) -> Split:
    """Hold out each user's latest interaction (timestamp, then input row)."""
    times = _aligned(data, data.timestamps, "timestamps")
    sequence = _aligned(data, data.sequence, "sequence")
    rows = _entry_rows(data.matrix)
    # without a sequence, ties fall to the higher item index (deterministic)
    order = np.lexsort((data.matrix.indices, sequence, times, rows))
    counts = np.diff(data.matrix.indptr)
    last_positions = np.cumsum(counts)[counts >= 2] - 1
    is_test = np.zeros(data.matrix.nnz, dtype=bool)
    is_test[order[last_positions]] = True
    return _split(data, is_test, "leave-last-out")


def temporal_split(
    data: InteractionData, test_fraction: float = 0.2, cutoff_time: float | None = None
) -> Split:
    """Global time split: test = interactions at or after ``cutoff_time`` (default: the
    (1 - test_fraction) quantile of all timestamps). Test rows of users without
    training interactions are dropped (they are cold, not a ranking test)."""
    if data.timestamps is None:
        raise ValueError("temporal split needs timestamps")
    times = _aligned(data, data.timestamps, "timestamps")
    cutoff = np.quantile(times, 1 - test_fraction) if cutoff_time is None else cutoff_time
    is_test = times >= cutoff
    rows = _entry_rows(data.matrix)
    has_train = np.bincount(rows[~is_test], minlength=data.n_users) > 0
    split = _split(data, is_test, "temporal")
    split.test = sp.csr_matrix(split.test.multiply(has_train[:, None].astype(np.float32)))
    split.test.eliminate_zeros()
    return split


def random_split(data: InteractionData, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out round(test_fraction * n_u) random interactions of each user u, at most
    n_u - 1 (every user keeps one training interaction)."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must lie in (0, 1)")
    rng = np.random.default_rng(seed)
    rows = _entry_rows(data.matrix)
    counts = np.diff(data.matrix.indptr)
    order = np.lexsort((rng.random(len(rows)), rows))
    position = np.empty(len(rows), dtype=np.int64)
    position[order] = np.arange(len(rows)) - data.matrix.indptr[rows[order]]
    n_test = np.minimum(np.rint(test_fraction * counts), counts - 1)
    return _split(data, position < n_test[rows], "random")


def kfold_splits(data: InteractionData, n_folds: int = 5, seed: int = 0) -> Iterator[Split]:
    """k seeded folds over all interactions (for rating prediction: RMSE, MAE)."""
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    fold = np.random.default_rng(seed).permutation(data.matrix.nnz) % n_folds
    for f in range(n_folds):
        yield _split(data, fold == f, f"kfold-{f + 1}/{n_folds}")
