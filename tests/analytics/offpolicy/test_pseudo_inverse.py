"""The pseudo-inverse slate estimator: unbiased in exact expectation over every slate the
logging policy can serve (additive rewards), the product-logging closed form of Swaminathan
et al. (2017), and its support warning."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analytics.offpolicy import (
    pseudo_inverse,
    pseudo_inverse_from_weights,
    pseudo_weights_in_context,
    slot_gram,
    slot_indicators,
)
from tests.recommenders.core.test_exploration import plackett_luce_lists

N_ITEMS, SLOTS = 4, 2
EXAMINATION = np.array([1.0, 0.6])
RELEVANCE = np.array([0.5, 0.3, 0.2, 0.1])


def pseudo_weights(gram, marginals, slates):
    """``q^T Gamma^+ 1_s`` for each slate, by hand."""
    q = marginals.T.reshape(-1)
    return slot_indicators(slates, N_ITEMS) @ np.linalg.pinv(gram) @ q


def support(scores, temperature):
    slates, probabilities = zip(*plackett_luce_lists(scores, SLOTS, temperature), strict=True)
    return np.array(slates), np.array(probabilities)


def marginals_of(slates, probabilities):
    out = np.zeros((N_ITEMS, SLOTS))
    for slate, p in zip(slates, probabilities, strict=True):
        out[slate, np.arange(SLOTS)] += p
    return out


@pytest.mark.parametrize("target_temperature", [None, 0.3, 2.0])
def test_unbiased_in_exact_expectation_for_additive_rewards(target_temperature):
    logged, mu = support(np.array([1.0, 0.5, 0.2, -0.3]), 1.0)
    gram = slot_gram(logged, mu, N_ITEMS)
    if target_temperature is None:  # deterministic: items 2 then 0
        target = np.zeros((N_ITEMS, SLOTS))
        target[[2, 0], [0, 1]] = 1.0
    else:
        target = marginals_of(*support(np.array([-0.2, 0.9, 0.4, 0.6]), target_temperature))
    expected_reward = np.array([EXAMINATION @ RELEVANCE[slate] for slate in logged])
    expectation = float(np.sum(mu * expected_reward * pseudo_weights(gram, target, logged)))
    truth = float(np.sum(target * RELEVANCE[:, None] * EXAMINATION[None, :]))
    assert expectation == pytest.approx(truth, abs=1e-10)


def test_estimate_is_the_mean_of_reward_times_pseudo_weight():
    logged, mu = support(np.array([1.0, 0.5, 0.2, -0.3]), 1.0)
    gram = slot_gram(logged, mu, N_ITEMS)
    target = marginals_of(*support(np.array([0.3, 0.1, 0.4, 0.0]), 0.5))
    rng = np.random.default_rng(0)
    rows = rng.choice(len(logged), size=50, p=mu)
    rewards = rng.integers(0, 3, 50).astype(float)
    estimate = pseudo_inverse(
        rewards, logged[rows], np.zeros(50, dtype=int), target[None], gram[None]
    )
    by_hand = np.mean(rewards * pseudo_weights(gram, target, logged[rows]))
    assert estimate.value == pytest.approx(by_hand)
    assert estimate.estimator == "PI" and estimate.warnings == ()


def test_product_logging_reduces_to_the_sum_of_slot_weights():
    slot_distributions = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    slates = np.array(list(itertools.product(range(N_ITEMS), repeat=SLOTS)))
    mu = np.prod(slot_distributions[np.arange(SLOTS), slates], axis=1)
    gram = slot_gram(slates, mu, N_ITEMS)
    target = np.array([[0.0, 0.5], [1.0, 0.0], [0.0, 0.5], [0.0, 0.0]])
    weights = target[slates, np.arange(SLOTS)] / slot_distributions[np.arange(SLOTS), slates]
    closed_form = weights.sum(axis=1) - SLOTS + 1
    assert np.allclose(pseudo_weights(gram, target, slates), closed_form)


def test_candidate_outside_the_logged_span_is_warned():
    # epsilon-swap logging of the list (0, 1): only slates (0, 1) and (1, 0)
    logged, mu = np.array([[0, 1], [1, 0]]), np.array([0.8, 0.2])
    gram = slot_gram(logged, mu, N_ITEMS)
    target = np.zeros((N_ITEMS, SLOTS))
    target[[3, 0], [0, 1]] = 1.0  # item 3 first: never logged
    estimate = pseudo_inverse([1.0, 0.0], logged, [0, 0], target[None], gram[None])
    assert estimate.poor_coverage
    assert "outside the span of the logged slates" in estimate.warnings[0]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"slate_rewards": []}, "slate_rewards: no logged lists"),
        ({"logged_slates": np.array([[0, 9]])}, "logged_slates"),
        ({"contexts": np.array([1])}, "contexts"),
        ({"logging_grams": np.zeros((1, 3, 3))}, "logging_grams"),
        ({"target_marginals": np.zeros((N_ITEMS, SLOTS))}, "target_marginals"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    arguments = {
        "slate_rewards": [1.0],
        "logged_slates": np.array([[0, 1]]),
        "contexts": np.array([0]),
        "target_marginals": np.full((1, N_ITEMS, SLOTS), 0.25),
        "logging_grams": np.eye(N_ITEMS * SLOTS)[None],
    } | kwargs
    with pytest.raises(ValueError, match=f"^{argument}"):
        pseudo_inverse(**arguments)


def test_slot_gram_checks_its_probabilities():
    with pytest.raises(ValueError, match="^probabilities"):
        slot_gram(np.array([[0, 1]]), [0.5], N_ITEMS)


def test_context_by_context_weights_give_the_same_estimate():
    logged, mu = support(np.array([1.0, 0.5, 0.2, -0.3]), 1.0)
    other, nu = support(np.array([-0.5, 0.1, 0.9, 0.4]), 0.7)
    grams = np.stack([slot_gram(logged, mu, N_ITEMS), slot_gram(other, nu, N_ITEMS)])
    targets = np.stack(
        [marginals_of(*support(np.array([0.3, 0.1, 0.4, 0.0]), 0.5)), np.eye(N_ITEMS, SLOTS)]
    )
    rng = np.random.default_rng(1)
    contexts = rng.integers(0, 2, 40)
    slates = np.array(
        [logged[rng.choice(len(logged), p=mu)] if c == 0 else other[rng.choice(len(other), p=nu)]
         for c in contexts]
    )  # fmt: skip
    rewards = rng.integers(0, 3, 40).astype(float)
    users = rng.integers(0, 10, 40)
    stacked = pseudo_inverse(rewards, slates, contexts, targets, grams, user_ids=users)
    weights = np.zeros(40)
    for c in (0, 1):
        weights[contexts == c], in_span = pseudo_weights_in_context(
            grams[c], targets[c], slates[contexts == c]
        )
        assert in_span
    by_context = pseudo_inverse_from_weights(rewards, weights, user_ids=users)
    assert by_context.value == pytest.approx(stacked.value)
    assert by_context.ci == pytest.approx(stacked.ci)
    assert by_context.effective_sample_size == pytest.approx(stacked.effective_sample_size)


def test_weights_from_context_by_context_are_checked():
    with pytest.raises(ValueError, match="^pseudo_weights"):
        pseudo_inverse_from_weights([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="^gram"):
        pseudo_weights_in_context(np.eye(3), np.zeros((N_ITEMS, SLOTS)), np.array([[0, 1]]))
