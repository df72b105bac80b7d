"""Business rules: properties that hold on every list, whatever the scores and the rules."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommenders.core.rules import Rules, allowed_mask, apply_rules, rerank

N_ITEMS, N_CATEGORIES = 60, 5
NAMES = [f"c{c}" for c in range(N_CATEGORIES)]


def categories(seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((N_ITEMS, N_CATEGORIES)) < 0.3
    dense[np.arange(N_ITEMS), rng.integers(N_CATEGORIES, size=N_ITEMS)] = True
    return sp.csr_matrix(dense.astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 1000),
    k=st.integers(1, 20),
    cap=st.one_of(st.none(), st.integers(1, 4)),
    blocked_items=st.lists(st.integers(0, N_ITEMS - 1), max_size=10),
    blocked_categories=st.lists(st.sampled_from(NAMES), max_size=2),
    freshness=st.floats(0, 2),
    mmr=st.one_of(st.none(), st.floats(0.1, 1.0)),
)
def test_every_served_list_keeps_every_rule(
    seed, k, cap, blocked_items, blocked_categories, freshness, mmr
):
    rng = np.random.default_rng(seed)
    cats = categories(seed)
    items = rng.integers(0, N_ITEMS, size=40)  # duplicates included on purpose
    scores = rng.normal(size=40)
    rules = Rules.from_dict(
        {
            "max_per_category": cap,
            "blocked_items": blocked_items,
            "blocked_categories": blocked_categories,
            "freshness_boost": freshness,
            "mmr_lambda": mmr,
        },
        NAMES,
    )
    vectors = rng.normal(size=(N_ITEMS, 4))
    counts = rng.integers(0, 100, N_ITEMS).astype(np.float32)
    served, adjusted, positions = rerank_then_apply(items, scores, k, rules, cats, counts, vectors)
    assert len(served) <= k and len(set(served)) == len(served)
    np.testing.assert_array_equal(items[positions], served)
    assert not np.isin(served, blocked_items).any()
    blocked_idx = [NAMES.index(c) for c in blocked_categories]
    assert cats[served][:, blocked_idx].nnz == 0
    if cap is not None:
        assert (np.asarray(cats[served].sum(axis=0)).ravel() <= cap).all()
    if mmr is None:
        assert (np.diff(adjusted) <= 1e-12).all()


def rerank_then_apply(items, scores, k, rules, cats, counts, vectors=None, creators=None):
    """As the pipeline serves: distinct allowed candidates, :func:`rerank`, then
    :func:`apply_rules` once; returns (items, relevance, positions in ``items``)."""
    _, first = np.unique(items, return_index=True)
    candidates = np.sort(first)
    candidates = candidates[allowed_mask(items[candidates], rules, cats)]
    order, rel = rerank(items[candidates], scores[candidates], k, rules, counts, creators, vectors)
    kept = order[apply_rules(items[candidates][order], k, rules, cats)]
    return items[candidates][kept], rel[kept], candidates[kept]


def test_freshness_multiplier_decays_to_one_after_n_interactions():
    cats = sp.csr_matrix(np.eye(3, dtype=np.float32))
    rules = Rules.from_dict({"freshness_boost": 1.0, "freshness_interactions": 50}, ["a", "b", "c"])
    counts = np.array([0.0, 25.0, 80.0], dtype=np.float32)
    served, adjusted, _ = rerank_then_apply(np.arange(3), np.zeros(3), 3, rules, cats, counts)
    by_item = dict(zip(served.tolist(), adjusted.tolist(), strict=True))
    assert by_item[0] == pytest.approx(2 * by_item[2])  # x 2 for a brand-new item
    assert by_item[1] == pytest.approx(1.5 * by_item[2])  # half-way through 50
    assert served[0] == 0


def test_trusted_creators_are_boosted():
    cats = sp.csr_matrix(np.eye(2, dtype=np.float32))
    rules = Rules.from_dict({"trusted_creators": ["acme"], "trusted_boost": 0.5}, ["a", "b"])
    creators = np.array(["other", "acme"])
    served, _, _ = rerank_then_apply(
        np.arange(2), np.array([0.1, 0.0]), 2, rules, cats, np.zeros(2), creators=creators
    )
    assert served[0] == 1


def test_content_policy_mask():
    cats = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    rules = Rules.from_dict({"blocked_categories": ["b"], "blocked_items": [0]}, ["a", "b"])
    np.testing.assert_array_equal(allowed_mask(np.arange(3), rules, cats), [False, False, False])


@pytest.mark.parametrize(
    "config, message",
    [
        ({"max_per_category": 0}, "max_per_category"),
        ({"mmr_lambda": 1.5}, "mmr_lambda"),
        ({"freshness_interactions": 0}, "freshness_interactions"),
        ({"blocked_categories": ["nope"]}, "unknown category"),
        ({"typo_rule": 1}, "unknown rule"),
        ({"freshness_boost": -1}, "non-negative"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(config, message):
    with pytest.raises(ValueError, match=message):
        Rules.from_dict(config, ["a", "b"])


def test_apply_rules_keeps_scores_order_and_drops_duplicates_blocked_and_over_cap():
    # items 0-3 in category a, 4-5 in b, 6 in both; ranked 0, 0 (again), 1, 4, 2, 6, 5, 3
    cats = sp.csr_matrix(np.array([[1, 0]] * 4 + [[0, 1]] * 2 + [[1, 1]], dtype=np.float32))
    items = np.array([0, 0, 1, 4, 2, 6, 5, 3])
    rules = Rules.from_dict({"blocked_items": [1], "max_per_category": 2}, ["a", "b"])
    positions = apply_rules(items, 10, rules, cats)
    # 0 kept, its duplicate and blocked 1 dropped, 4 kept, 2 fills a, 6 (a full) dropped,
    # 5 fills b, 3 (a full) dropped
    assert items[positions].tolist() == [0, 4, 2, 5]
    assert positions.tolist() == [0, 3, 4, 6]
    assert apply_rules(items, 2, rules, cats).tolist() == [0, 3]


def test_apply_rules_blocks_a_category_and_serves_items_beyond_the_category_matrix():
    cats = sp.csr_matrix(np.array([[1, 0], [0, 1]], dtype=np.float32))
    rules = Rules.from_dict({"blocked_categories": ["b"], "max_per_category": 1}, ["a", "b"])
    # item 2 was added after the categories were built: no category, never capped
    assert apply_rules(np.array([1, 2, 0]), 3, rules, cats).tolist() == [1, 2]
