"""The exploration step after ranking: sorted lists carry propensity 1, the epsilon-greedy
list its exact marginals, the Plackett-Luce list its step propensities and a log from which
the marginals are recomputed; draws are replayable from the request's seed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recommenders.core.exploration import plackett_luce_marginals
from recommenders.core.served_exploration import (
    ExplorationSettings,
    expected_cost,
    explore_served,
    logged_marginals,
    request_rng,
)

RANKED = [(10 + i, float(s), "model") for i, s in enumerate([3.0, 2.5, 2.0, 1.0, 0.5, 0.0])]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": "sorted"}, "exploration_mode"),
        ({"temperature": 0.0}, "exploration_temperature"),
        ({"temperature": float("nan")}, "exploration_temperature"),
        ({"epsilon": 1.5}, "exploration_epsilon"),
        ({"pool": 0}, "exploration_pool"),
        ({"pool": 501}, "exploration_pool"),
    ],
)
def test_settings_out_of_range_name_the_field(fields, field):
    with pytest.raises(ValueError, match=field):
        ExplorationSettings(**fields)


def test_off_serves_the_ranked_top_k_with_propensity_one():
    explored = explore_served(RANKED, 3, ExplorationSettings(), request_rng("r1"))
    assert [i for i, _, _ in explored.served] == [10, 11, 12]
    assert explored.propensities == [1.0, 1.0, 1.0] == explored.step_propensities
    assert explored.list_probability == 1.0 and explored.log["policy"] == "greedy"


def test_epsilon_greedy_logs_the_closed_form_marginals():
    settings = ExplorationSettings("epsilon_greedy", epsilon=0.3)
    explored = explore_served(RANKED, 4, settings, request_rng("r2"))
    order = [i - 10 for i, _, _ in explored.served]
    # eps/(k-1) = 0.1 for a neighbour; an end position loses one edge, an inner one two
    expected = {0: [0.9, 0.1, 0, 0], 1: [0.1, 0.8, 0.1, 0], 2: [0, 0.1, 0.8, 0.1]}
    expected[3] = [0, 0, 0.1, 0.9]
    assert explored.propensities == pytest.approx([expected[r][j] for j, r in enumerate(order)])
    assert explored.log == {
        "policy": "epsilon_greedy", "epsilon": 0.3, "list_probability": explored.list_probability,
    }  # fmt: skip


def test_plackett_luce_draw_is_replayable_and_its_log_gives_the_exact_marginals():
    settings = ExplorationSettings("plackett_luce", temperature=0.7, pool=6)
    first = explore_served(RANKED, 3, settings, request_rng("request-42"))
    again = explore_served(RANKED, 3, settings, request_rng("request-42"))
    assert first == again
    assert first.propensities == [None, None, None]
    assert first.list_probability == pytest.approx(np.prod(first.step_propensities))
    # the marginals from the log equal enumeration of every ordered top-3 of the pool
    weights = np.exp(np.array([s for _, s, _ in RANKED]) / 0.7)
    brute = np.zeros((6, 3))
    for perm in itertools.permutations(range(6), 3):
        p, left = 1.0, weights.sum()
        for j in perm:
            p, left = p * weights[j] / left, left - weights[j]
        for position, j in enumerate(perm):
            brute[j, position] += p
    pool_positions = first.log["pool_positions"]
    marginals = logged_marginals(first.log, 3)
    assert marginals == pytest.approx([brute[p, j] for j, p in enumerate(pool_positions)])


def test_plackett_luce_draws_follow_the_marginals():
    settings = ExplorationSettings("plackett_luce", temperature=1.0, pool=6)
    counts = np.zeros((6, 2))
    for n in range(4000):
        explored = explore_served(RANKED, 2, settings, request_rng(f"r{n}"))
        for position, (item, _, _) in enumerate(explored.served):
            counts[item - 10, position] += 1
    scores = np.array([s for _, s, _ in RANKED])
    exact = plackett_luce_marginals(scores, 2, temperature=1.0)
    assert np.abs(counts / 4000 - exact).max() < 0.03  # ~4 standard errors at n = 4000


def test_expected_cost_is_zero_off_and_grows_with_the_temperature():
    scores = np.linspace(1.0, 0.0, 50)
    off = expected_cost(scores, 10, ExplorationSettings(), 0.2)
    cool = expected_cost(scores, 10, ExplorationSettings("plackett_luce", 0.05), 0.2)
    hot = expected_cost(scores, 10, ExplorationSettings("plackett_luce", 1.0), 0.2)
    assert off == 0.0 and 0.0 < cool < hot < 0.2


def test_a_pool_with_a_score_that_is_not_finite_is_served_sorted_and_logged_so():
    ranked = [(1, 2.0, "model"), (2, float("-inf"), "model"), (3, 1.0, "model")]
    settings = ExplorationSettings("plackett_luce", temperature=1.0, pool=3)
    explored = explore_served(ranked, 2, settings, request_rng("r"))
    assert [i for i, _, _ in explored.served] == [1, 2]
    assert explored.propensities == [1.0, 1.0] and explored.log["policy"] == "greedy"


def test_marginals_of_a_pool_too_cold_to_integrate_are_the_sorted_lists():
    settings = ExplorationSettings("plackett_luce", temperature=0.001, pool=6)
    explored = explore_served(RANKED, 3, settings, request_rng("cold"))
    assert [i for i, _, _ in explored.served] == [10, 11, 12]
    assert logged_marginals(explored.log, 3) == [1.0, 1.0, 1.0]
