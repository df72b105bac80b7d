"""Model-specific checks against independent oracles (direct solves, hand computations)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommenders.core.base import InteractionData
from recommenders.core.models.als import conjugate_gradient_half_step, row_chunks
from recommenders.core.models.content import tfidf
from recommenders.core.models.item_cf import bm25_weight
from recommenders.core.registry import create_model
from tests.recommenders.core.planted import N_ITEMS, item_group, planted_data

RNG = np.random.default_rng(11)
SMALL = sp.csr_matrix((RNG.random((12, 9)) < 0.4).astype(np.float32))


def test_als_conjugate_gradient_converges_to_the_exact_solve():
    torch = pytest.importorskip("torch")
    f, reg, alpha = 4, 0.5, 3.0
    y = RNG.normal(size=(9, f)).astype(np.float32)
    c = 1.0 + alpha * SMALL.data
    exact = np.zeros((12, f))
    for u in range(12):
        cu = np.ones(9)
        cu[SMALL[u].indices] = 1.0 + alpha
        pu = SMALL[u].toarray().ravel()
        a = y.T @ (cu[:, None] * y) + reg * np.eye(f)
        exact[u] = np.linalg.solve(a, y.T @ (cu * pu))

    def csr(values):
        return torch.sparse_csr_tensor(
            torch.from_numpy(SMALL.indptr.astype(np.int64)),
            torch.from_numpy(SMALL.indices.astype(np.int64)),
            torch.from_numpy(values.astype(np.float32)),
            size=SMALL.shape,
        )

    yt = torch.from_numpy(y)
    x = torch.zeros(12, f)
    gram = yt.T @ yt + reg * torch.eye(f)
    conjugate_gradient_half_step(csr(c), csr(c - 1), x, yt, gram, cg_steps=f)
    np.testing.assert_allclose(x.numpy(), exact, rtol=1e-3, atol=1e-4)


def test_row_chunks_cover_all_rows_with_balanced_entries():
    chunks = row_chunks(SMALL, 3)
    assert chunks[0][0] == 0 and chunks[-1][1] == 12
    assert all(a[1] == b[0] for a, b in zip(chunks[:-1], chunks[1:], strict=True))


def test_ease_matches_per_column_ridge_regressions():
    lam = 2.0
    model = create_model("ease", regularization=lam).fit(InteractionData(SMALL))
    x = SMALL.toarray().astype(np.float64)
    for j in range(x.shape[1]):
        others = np.delete(np.arange(x.shape[1]), j)
        xo = x[:, others]
        b = np.linalg.solve(xo.T @ xo + lam * np.eye(len(others)), xo.T @ x[:, j])
        np.testing.assert_allclose(model.weights[others, j], b, rtol=1e-4, atol=1e-5)
        assert model.weights[j, j] == 0


def test_bm25_weight_by_hand():
    item_users = sp.csr_matrix(np.array([[1.0, 0, 1], [0, 2.0, 0]]))
    weighted = bm25_weight(item_users, k1=1.2, b=0.75).toarray()
    idf = np.log(2) - np.log1p(np.array([1, 1, 1]))
    lengths = np.array([2.0, 2.0])
    norm = 0.25 + 0.75 * lengths / lengths.mean()
    expected_00 = 1 * 2.2 / (1.2 * norm[0] + 1) * idf[0]
    expected_11 = 2 * 2.2 / (1.2 * norm[1] + 2) * idf[1]
    assert weighted[0, 0] == pytest.approx(expected_00)
    assert weighted[1, 1] == pytest.approx(expected_11)


@pytest.mark.parametrize("similarity", ["cosine", "bm25"])
def test_item_cf_exposes_its_neighbours(similarity):
    model = create_model("item_cf", similarity=similarity, neighbours=4).fit(planted_data())
    neighbours = model.neighbours
    assert neighbours.shape == (N_ITEMS, N_ITEMS)
    assert (np.diff(neighbours.indptr) <= 4).all() and neighbours.diagonal().sum() == 0
    rows = np.repeat(np.arange(N_ITEMS), np.diff(neighbours.indptr))
    assert (item_group(rows) == item_group(neighbours.indices)).all()


def test_user_cf_pearson_on_ratings_stays_in_group():
    data = planted_data(explicit=True)
    model = create_model("user_cf", similarity="pearson").fit(data)
    rows = np.repeat(np.arange(40), np.diff(model.neighbours[:40].indptr))
    assert ((rows >= 20) == (model.neighbours[:40].indices >= 20)).mean() > 0.95


def test_trending_decays_with_the_half_life():
    day = 86_400.0
    pattern = ([0, 0, 1], [0, 1, 0])  # item 1 seen once at t = 0, item 0 twice at day 10
    matrix = sp.csr_matrix(([1.0, 1.0, 1.0], pattern), shape=(2, 2))
    times = sp.csr_matrix(([10 * day, 0.0, 10 * day], pattern), shape=(2, 2))
    data = InteractionData(matrix, timestamps=times)
    model = create_model("trending", half_life_days=5.0).fit(data)
    np.testing.assert_allclose(model.item_scores, [2.0, 0.25 + 1e-9], rtol=1e-6)


def test_popular_within_a_category():
    model = create_model("popular", category="romance").fit(planted_data())
    recs = model.recommend([40, 0], 5)
    assert (item_group(recs.item_indices) == 1).all() and not recs.fallback.any()
    with pytest.raises(ValueError, match="unknown category"):
        create_model("popular", category="western").fit(planted_data())


def test_tfidf_by_hand():
    got = tfidf(["a b", "a"]).toarray()
    idf_a, idf_b = np.log(3 / 3) + 1, np.log(3 / 2) + 1
    first = np.array([idf_a, idf_b]) / np.hypot(idf_a, idf_b)
    np.testing.assert_allclose(got, [first, [1.0, 0.0]], rtol=1e-6)


def test_sgd_mf_predictions_are_clipped_and_cover_unknown_users():
    model = create_model("sgd_mf", epochs=5).fit(planted_data(explicit=True))
    pred = model.predict(np.array([0, 500]), np.array([1, 2]))
    assert ((pred >= 1) & (pred <= 5)).all()
    assert pred[1] == pytest.approx(np.clip(model.global_mean + model.item_bias[2], 1, 5))


def test_content_needs_item_features():
    with pytest.raises(ValueError, match="no item features"):
        create_model("content").fit(InteractionData(SMALL))


def test_ease_refuses_a_catalogue_beyond_its_limit():
    with pytest.raises(ValueError, match="exceed max_items"):
        create_model("ease", max_items=5).fit(InteractionData(SMALL))
