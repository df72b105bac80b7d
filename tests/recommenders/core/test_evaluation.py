"""Evaluation protocols, metrics (hand-computed golden numbers, properties) and evaluate()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommenders.core.base import InteractionData, Recommender
from recommenders.core.evaluation import (
    evaluate,
    hit_matrix,
    kfold_splits,
    leave_last_out,
    mae,
    popularity_bias,
    random_split,
    ranking_metrics,
    rmse,
    temporal_split,
)
from recommenders.core.registry import create_model
from tests.recommenders.core.planted import planted_data


def _data(rows, cols, times, sequence=None, shape=(3, 5)) -> InteractionData:
    ones = np.ones(len(rows))
    seq = np.arange(1, len(rows) + 1.0) if sequence is None else sequence
    return InteractionData(
        matrix=sp.csr_matrix((ones, (rows, cols)), shape=shape),
        timestamps=sp.csr_matrix((np.asarray(times, float), (rows, cols)), shape=shape),
        sequence=sp.csr_matrix((np.asarray(seq, float), (rows, cols)), shape=shape),
    )


def test_leave_last_out_takes_the_latest_and_breaks_ties_by_input_row():
    # user 0: items 0 (t=5), 4 (t=9, row 1), 3 (t=9, row 6, later) -> test item 3
    # user 1: a single interaction -> not evaluated; user 2: items 1 (t=1), 2 (t=7) -> 2
    data = _data([0, 0, 2, 1, 2, 0], [0, 4, 1, 3, 2, 3], [5, 9, 1, 4, 7, 9], [2, 1, 3, 4, 5, 6])
    split = leave_last_out(data)
    rows, cols = split.test.nonzero()
    assert rows.tolist() == [0, 2] and cols.tolist() == [3, 2]
    np.testing.assert_array_equal(split.test_users, [0, 2])
    assert split.train.matrix.nnz == 4 and split.train.matrix[1, 3] == 1
    assert split.train.timestamps[0, 4] == 9 and split.train.sequence[0, 4] == 1


def test_temporal_split_cuts_globally_and_drops_users_without_history():
    data = _data([0, 0, 1, 2, 2], [0, 1, 2, 3, 4], [1, 10, 20, 2, 3])
    split = temporal_split(data, cutoff_time=10)
    assert split.test.nnz == 1 and split.test[0, 1] == 1  # user 1 has no training history
    assert split.train.matrix.nnz == 3


def test_random_split_is_seeded_and_keeps_one_training_item_per_user():
    data = planted_data()
    a, b = random_split(data, 0.5, seed=3), random_split(data, 0.5, seed=3)
    assert (a.test != b.test).nnz == 0
    assert (np.diff(a.train.matrix.indptr)[:40] >= 1).all()
    assert a.test.nnz + a.train.matrix.nnz == data.matrix.nnz
    assert a.test.multiply(a.train.matrix).nnz == 0


def test_kfold_partitions_every_interaction_once():
    data = planted_data(explicit=True)
    folds = list(kfold_splits(data, 4, seed=1))
    total = sum(f.test for f in folds)
    assert (total != data.matrix).nnz == 0 and len(folds) == 4


def test_ranking_metrics_golden_numbers():
    # user 0: relevant {2, 7}, list (2, 5, 7): hits at ranks 1 and 3
    # user 1: relevant {4}, list (1, 3, 0): no hit
    relevant = sp.csr_matrix(([1, 1, 1], ([0, 0, 1], [2, 7, 4])), shape=(2, 10))
    lists = np.array([[2, 5, 7], [1, 3, 0]])
    got = ranking_metrics(lists, relevant)
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    map0 = (1 / 1 + 2 / 3) / 2
    assert got["hr"] == pytest.approx(0.5)
    assert got["recall"] == pytest.approx(0.5)
    assert got["precision"] == pytest.approx(2 / 3 / 2)
    assert got["ndcg"] == pytest.approx(ndcg0 / 2)
    assert got["map"] == pytest.approx(map0 / 2)


def test_padding_never_counts_as_a_hit():
    relevant = sp.csr_matrix(([1], ([0], [0])), shape=(1, 3))
    assert not hit_matrix(np.array([[-1, -1]]), relevant).any()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 10_000))
def test_metric_properties(n_users, k, seed):
    rng = np.random.default_rng(seed)
    n_items = 12
    relevant = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3, dtype=np.float32)
    lists = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    got = ranking_metrics(lists, relevant)
    assert all(0.0 <= v <= 1.0 + 1e-12 for v in got.values())
    assert got["recall"] <= got["hr"] + 1e-12 and got["precision"] <= got["hr"] + 1e-12
    # a perfect list (relevant items first) has NDCG 1 for users with relevant items
    perfect = np.stack(
        [np.r_[np.flatnonzero(r), np.flatnonzero(r == 0)][:k] for r in relevant.toarray()]
    )
    has = np.diff(relevant.indptr) > 0
    assert (
        ranking_metrics(perfect[has], relevant[has])["ndcg"] == pytest.approx(1.0) or not has.any()
    )


def test_popularity_bias_and_rating_errors():
    popularity = np.array([1.0, 2.0, 3.0, 4.0])
    assert popularity_bias(np.array([[3, 3]]), popularity) == pytest.approx(100.0)
    assert popularity_bias(np.array([[0, -1]]), popularity) == pytest.approx(25.0)
    assert rmse([1, 3], [2, 5]) == pytest.approx(np.sqrt(2.5))
    assert mae([1, 3], [2, 5]) == pytest.approx(1.5)


class _Oracle(Recommender):
    """Scores the held-out items highest: an independent check of evaluate()."""

    name = "oracle"

    def __init__(self, answers: sp.csr_matrix) -> None:
        super().__init__()
        self.answers = answers

    def _fit(self, data: InteractionData) -> None: ...

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return self.answers[user_indices].toarray()

    def _save_state(self, folder: Path) -> None: ...

    def _load_state(self, folder: Path) -> None: ...


def test_evaluate_scores_any_model_of_the_interface():
    split = leave_last_out(planted_data())
    result = evaluate(_Oracle(split.test), split, k=5)
    assert result.hr == 1.0 and result.ndcg == 1.0 and result.n_users == 40
    assert result.as_dict()["model"] == "oracle" and result.rmse is None


def test_evaluate_models_on_the_planted_data():
    split = leave_last_out(planted_data())
    popular = evaluate(create_model("popular"), split, k=5)
    item_cf = evaluate(create_model("item_cf"), split, k=5)
    assert item_cf.hr > popular.hr and 0 < item_cf.coverage <= 1
    assert 0 < popular.popularity_bias <= 100 and popular.fallback_share == 0
    ratings = next(kfold_splits(planted_data(explicit=True), 5))
    mf = evaluate(create_model("sgd_mf"), ratings, k=5)
    assert mf.rmse is not None and mf.mae <= mf.rmse
    with pytest.raises(ValueError, match="k must be positive"):
        evaluate(create_model("popular"), split, k=0)
