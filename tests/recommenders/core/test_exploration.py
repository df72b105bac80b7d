"""Exploring samplers: their propensities against enumeration of every list and against
sampled frequencies; the cost of exploring by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recommenders.core.exploration import (
    MAX_MARGINAL_POOL,
    epsilon_swap_marginals,
    epsilon_swap_sample,
    expected_clicks,
    exploration_cost,
    greedy_marginals,
    plackett_luce_draws,
    plackett_luce_marginals,
    plackett_luce_sample,
)


def plackett_luce_lists(scores, k, temperature):
    """Every top-k list with its Plackett-Luce probability (the oracle)."""
    logits = np.asarray(scores) / temperature
    w = np.exp(logits - logits.max())
    for perm in itertools.permutations(range(len(w)), k):
        probability, left = 1.0, set(range(len(w)))
        for item in perm:
            probability *= w[item] / sum(w[i] for i in left)
            left.discard(item)
        yield perm, probability


def enumerated_marginals(scores, k, temperature):
    marginals = np.zeros((len(scores), k))
    for perm, probability in plackett_luce_lists(scores, k, temperature):
        marginals[list(perm), np.arange(k)] += probability
    return marginals


@pytest.mark.parametrize(
    "n, k, temperature", [(5, 3, 1.0), (4, 4, 0.5), (6, 2, 0.1), (7, 3, 3.0), (7, 7, 0.05)]
)
def test_plackett_luce_marginals_match_enumeration(n, k, temperature):
    scores = np.random.default_rng(n * 10 + k).normal(size=n) * 2
    ours = plackett_luce_marginals(scores, k, temperature=temperature)
    assert np.abs(ours - enumerated_marginals(scores, k, temperature)).max() < 1e-9


def test_pool_restricts_marginals_to_the_best_scores():
    scores = np.array([0.1, 2.0, -1.0, 1.5, 0.3, 5.0])
    ours = plackett_luce_marginals(scores, 2, temperature=0.7, pool=3)
    pool = [5, 1, 3]
    assert np.all(ours[[0, 2, 4]] == 0)
    oracle = enumerated_marginals(scores[pool], 2, 0.7)
    assert np.abs(ours[pool] - oracle).max() < 1e-9


def test_sample_logs_its_exact_list_probability_and_matches_the_marginals():
    scores = np.array([1.0, 0.4, 0.0, -0.5, 0.8])
    probabilities = dict(plackett_luce_lists(scores, 3, 0.5))
    rng = np.random.default_rng(11)
    counts = np.zeros((5, 3))
    draws = 6_000
    for _ in range(draws):
        explored = plackett_luce_sample(scores, 3, temperature=0.5, rng=rng)
        listed = tuple(int(i) for i in explored.indices)
        assert explored.list_probability == pytest.approx(probabilities[listed], rel=1e-12)
        assert np.prod(explored.step_propensities) == pytest.approx(explored.list_probability)
        counts[explored.indices, np.arange(3)] += 1
    marginals = plackett_luce_marginals(scores, 3, temperature=0.5)
    standard_error = np.sqrt(marginals * (1 - marginals) / draws)
    assert np.all(np.abs(counts / draws - marginals) <= 5 * standard_error + 1e-12)


def test_low_temperature_propensities_stay_finite():
    explored = plackett_luce_sample(
        np.array([10.0, 0.0, -10.0, -20.0]), 3, temperature=0.05, rng=np.random.default_rng(0)
    )
    assert list(explored.indices) == [0, 1, 2]
    assert np.allclose(explored.step_propensities, 1.0)
    assert explored.list_probability == pytest.approx(1.0)


def test_epsilon_swap_marginals_and_list_probability():
    scores = np.array([4.0, 3.0, 2.0, 1.0, 0.0])
    k, epsilon = 4, 0.3
    marginals = epsilon_swap_marginals(scores, k, epsilon=epsilon)
    each = epsilon / 3
    expected = np.array(
        [
            [1 - each, each, 0, 0],
            [each, 1 - 2 * each, each, 0],
            [0, each, 1 - 2 * each, each],
            [0, 0, each, 1 - each],
            [0, 0, 0, 0],
        ]
    )
    assert np.allclose(marginals, expected)
    rng = np.random.default_rng(2)
    counts = np.zeros((5, k))
    for _ in range(6_000):
        explored = epsilon_swap_sample(scores, k, epsilon=epsilon, rng=rng)
        counts[explored.indices, np.arange(k)] += 1
        assert np.allclose(explored.step_propensities, marginals[explored.indices, np.arange(k)])
        swapped = not np.array_equal(explored.indices, [0, 1, 2, 3])
        assert explored.list_probability == pytest.approx(each if swapped else 1 - epsilon)
    assert np.abs(counts / 6_000 - marginals).max() < 0.025


def test_deterministic_lists_have_propensity_one():
    explored = epsilon_swap_sample(
        np.array([1.0, 3.0, 2.0]), 3, epsilon=0.0, rng=np.random.default_rng(0)
    )
    assert list(explored.indices) == [1, 2, 0]
    assert explored.list_probability == 1.0 and np.all(explored.step_propensities == 1.0)


def test_exploration_cost_by_hand():
    scores = np.array([3.0, 2.0, 1.0])
    relevance = np.array([0.5, 0.2, 0.1])
    examination = np.array([1.0, 0.5])
    assert expected_clicks(greedy_marginals(scores, 2), relevance, examination) == 0.6
    marginals = epsilon_swap_marginals(scores, 2, epsilon=0.4)  # swap the pair 40% of lists
    cost = exploration_cost(scores, marginals, relevance, examination)
    assert cost.exploring_clicks == pytest.approx(0.6 * 0.6 + 0.4 * (0.2 + 0.25))
    assert cost.loss == pytest.approx(0.4 * 0.15)
    assert cost.relative_loss == pytest.approx(0.06 / 0.6)
    assert cost.within(0.07) and not cost.within(0.05)


def test_more_heat_costs_more():
    rng = np.random.default_rng(4)
    relevance = rng.uniform(0.01, 0.4, 30)
    scores = np.log(relevance) + rng.normal(0, 0.3, 30)
    examination = 1 / np.arange(1, 6)
    losses = [
        exploration_cost(
            scores,
            plackett_luce_marginals(scores, 5, temperature=t),
            relevance,
            examination,
        ).loss
        for t in (0.05, 0.3, 1.0, 5.0)
    ]
    assert losses == sorted(losses)


@pytest.mark.parametrize(
    "call, argument",
    [
        (
            lambda: plackett_luce_sample([], 3, temperature=1.0, rng=np.random.default_rng()),
            "scores",
        ),
        (lambda: plackett_luce_sample([1.0, np.nan], 1, temperature=1.0, rng=None), "scores"),
        (lambda: plackett_luce_marginals([1.0, 2.0], 0, temperature=1.0), "k"),
        (lambda: plackett_luce_marginals([1.0, 2.0], 1, temperature=0.0), "temperature"),
        (lambda: plackett_luce_marginals([1.0, 2.0], 1, temperature=1.0, pool=0), "pool"),
        (lambda: plackett_luce_marginals([9.0, 0.0, -9.0], 2, temperature=0.01), "temperature"),
        (
            lambda: plackett_luce_marginals(np.zeros(MAX_MARGINAL_POOL + 1), 2, temperature=1.0),
            "pool",
        ),
        (lambda: epsilon_swap_marginals([1.0, 2.0], 2, epsilon=1.5), "epsilon"),
        (lambda: expected_clicks(np.eye(2), [0.5, 2.0], [1.0, 1.0]), "relevance"),
        (lambda: expected_clicks(np.eye(2), [0.5, 0.2], [1.0]), "examination"),
        (lambda: expected_clicks(np.eye(2), [0.5, 0.2], [1.0, 1.5]), "examination"),
        (lambda: plackett_luce_sample([1.0, 2.0], 1, temperature=1.0, rng=3), "rng"),
        (lambda: epsilon_swap_sample([1.0, 2.0], 2, epsilon=0.1, rng=None), "rng"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}"):
        call()


@pytest.mark.parametrize("pool", [None, 4, 20])
def test_vectorised_draws_are_the_sampler_called_row_by_row(pool):
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(40, 12))
    first, second = np.random.default_rng(9), np.random.default_rng(9)
    one_by_one = np.stack(
        [
            plackett_luce_sample(row, 3, temperature=0.7, rng=first, pool=pool).indices
            for row in scores
        ]
    )
    vectorised = plackett_luce_draws(scores, 3, temperature=0.7, rng=second, pool=pool)
    assert np.array_equal(one_by_one, vectorised)
