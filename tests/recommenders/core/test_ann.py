"""ANN index: kind chosen by size, recall@100 measured and enforced, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from recommenders.core.ann import AnnIndex, recall_at_k, sample_queries


def clustered_vectors(n: int, dim: int = 32, n_clusters: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    vectors = centres[rng.integers(n_clusters, size=n)] + rng.normal(0, 0.6, (n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_small_catalogues_get_exact_search():
    vectors = clustered_vectors(2_000)
    index = AnnIndex.build(vectors)
    assert index.kind == "flat" and index.recall_at_100 == 1.0
    scores, ids = index.search(vectors[:3], 5)
    np.testing.assert_array_equal(ids[:, 0], [0, 1, 2])
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_keeps_recall_at_100_above_target(kind):
    vectors = clustered_vectors(20_000)
    index = AnnIndex.build(vectors, kind=kind, seed=1)
    assert index.kind == kind
    assert index.recall_at_100 >= 0.95
    queries = sample_queries(vectors, 100, seed=9)  # fresh queries: the recall holds
    _, approx = index.search(queries, 100)
    _, exact = AnnIndex.build(vectors, kind="flat").search(queries, 100)
    assert recall_at_k(approx, exact) >= 0.9


def test_auto_picks_ivf_for_large_catalogues():
    vectors = clustered_vectors(6_000)
    index = AnnIndex.build(vectors, flat_max_items=5_000)
    assert index.kind == "ivf" and index.settings["nprobe"] >= 8


def test_an_unreachable_target_falls_back_to_exact_search():
    vectors = clustered_vectors(5_000)
    index = AnnIndex.build(vectors, kind="ivf", target_recall=1.01)
    assert index.kind == "flat" and index.recall_at_100 == 1.0
    assert index.settings["refused"] == "ivf" and index.settings["tried"]


def test_search_excluding_and_add():
    vectors = clustered_vectors(500)
    index = AnnIndex.build(vectors)
    _, ids = index.search_excluding(vectors[0], 10, np.array([0, 5]))
    assert 0 not in ids and 5 not in ids and len(ids) == 10
    index.add(vectors[:1] * -1.0)
    _, ids = index.search(-vectors[0], 1)
    assert ids[0, 0] == 500


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown ANN index kind"):
        AnnIndex.build(clustered_vectors(300), kind="lsh")


def test_save_and_load_keep_the_settings(tmp_path):
    vectors = clustered_vectors(6_000)
    index = AnnIndex.build(vectors, kind="ivf")
    index.save(tmp_path)
    loaded = AnnIndex.load(tmp_path)
    assert loaded.kind == "ivf" and loaded.settings == index.settings
    assert loaded.index.nprobe == index.index.nprobe
    np.testing.assert_array_equal(
        index.search(vectors[:5], 20)[1], loaded.search(vectors[:5], 20)[1]
    )
