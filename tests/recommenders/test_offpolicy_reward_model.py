"""The command's click model sees the user: two users with opposite tastes for the same two
items get opposite predictions, which no item-and-position model can give."""

from __future__ import annotations

import numpy as np
import pytest

from recommenders.selectors.offpolicy_reward_model import UserAwareClickModel


def _logs(n_lists: int, seed: int = 0):
    """Users "a" like item X (click 0.5 when examined), users "b" like Y; each list shows both
    in a random order; production's logged score says who likes what."""
    rng = np.random.default_rng(seed)
    users, items, scores, rewards = [], [], [], []
    examination = np.array([1.0, 0.5])
    for n in range(n_lists):
        user = f"{'ab'[n % 2]}{n % 10}"
        row = ["X", "Y"] if rng.random() < 0.5 else ["Y", "X"]
        likes = "X" if user[0] == "a" else "Y"
        relevance = np.array([0.5 if item == likes else 0.05 for item in row])
        users.append(user)
        items.append(row)
        scores.append([2.0 if item == likes else -1.0 for item in row])
        rewards.append((rng.random(2) < examination * relevance).astype(float))
    return users, items, np.array(scores), np.array(rewards)


def test_opposite_tastes_get_opposite_predictions():
    users, items, scores, rewards = _logs(4000)
    model = UserAwareClickModel(users, items, scores, rewards)
    q = model.predict(["a0", "a0", "b1", "b1"], [["X"], ["Y"], ["X"], ["Y"]])[:, 0]
    assert q[0] == pytest.approx(0.5, abs=0.05) and q[3] == pytest.approx(0.5, abs=0.05)
    assert q[1] == pytest.approx(0.05, abs=0.03) and q[2] == pytest.approx(0.05, abs=0.03)


def test_pairs_never_served_and_short_lists():
    users, items, scores, rewards = _logs(400)
    model = UserAwareClickModel(users, items, scores, rewards)
    q = model.predict(["a0", "new-user"], [["Z", "X"], ["X"]])
    assert q.shape == (2, 2) and np.all((q[:, 0] > 0) & (q[:, 0] < 1))
    assert q[1, 1] == 0.0  # past the end of a short list
