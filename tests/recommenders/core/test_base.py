"""top_k_from_scores against a sort-based oracle, ties and exclusions included."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recommenders.core.base import mask_seen, top_k_from_scores

small_scores = arrays(
    np.float32,
    st.tuples(st.integers(1, 6), st.integers(1, 12)),
    elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, -np.inf, np.nan]),
)


@settings(max_examples=200, deadline=None)
@given(small_scores, st.integers(1, 15))
def test_top_k_matches_a_stable_sort_with_lower_index_first(scores, k):
    idx, val = top_k_from_scores(scores, k)
    clean = np.where(np.isnan(scores), -np.inf, scores)
    for row in range(len(scores)):
        order = np.lexsort((np.arange(scores.shape[1]), -clean[row]))[:k]
        expected = np.where(np.isfinite(clean[row, order]), order, -1)
        expected = np.pad(expected, (0, k - len(expected)), constant_values=-1)
        np.testing.assert_array_equal(idx[row], expected)
        finite = idx[row] >= 0
        np.testing.assert_array_equal(val[row][finite], clean[row, idx[row][finite]])
        assert np.isneginf(val[row][~finite]).all()


def test_mask_seen_ignores_users_beyond_the_matrix():
    scores = np.zeros((2, 3), np.float32)
    seen = sp.csr_matrix(np.array([[0, 1, 0]], np.float32))
    mask_seen(scores, seen, np.array([0, 5]))
    assert np.isneginf(scores[0, 1]) and np.isfinite(scores[1]).all()


@settings(max_examples=100, deadline=None)
@given(
    arrays(
        np.int8, st.tuples(st.integers(1, 8), st.integers(1, 10)), elements=st.sampled_from([0, 1])
    ),
    st.lists(st.integers(0, 11), max_size=12),
)
def test_mask_seen_masks_exactly_each_users_seen_items(dense_seen, users):
    seen = sp.csr_matrix(dense_seen.astype(np.float32))
    users = np.array(users, dtype=np.int64)
    scores = np.ones((len(users), seen.shape[1]), np.float32)
    mask_seen(scores, seen, users)
    for row, user in enumerate(users):
        expected = dense_seen[user] == 1 if user < seen.shape[0] else np.zeros(seen.shape[1], bool)
        assert np.array_equal(np.isneginf(scores[row]), expected)
