"""Logged data shared by the agreement test and ``obp_reference.py``, which computed the
stored Open Bandit Pipeline numbers (numpy only, so both sides build the same arrays)."""

from __future__ import annotations

import numpy as np

N_ROUNDS, N_ACTIONS = 400, 5
N_SLATES, LEN_LIST = 300, 3
CLIP = 2.0


def _normalised(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.random(shape) + 0.05
    return values / values.sum(axis=1, keepdims=True)


def single_item_case(seed: int = 19) -> dict[str, np.ndarray]:
    """One action per round: behaviour and evaluation action distributions, the logged
    action, its behaviour propensity, a binary reward and a reward model."""
    rng = np.random.default_rng(seed)
    behaviour = _normalised(rng, (N_ROUNDS, N_ACTIONS))
    evaluation = _normalised(rng, (N_ROUNDS, N_ACTIONS)) ** 2
    evaluation /= evaluation.sum(axis=1, keepdims=True)
    cumulative = behaviour.cumsum(axis=1)
    action = np.minimum((rng.random(N_ROUNDS)[:, None] > cumulative).sum(axis=1), N_ACTIONS - 1)
    rows = np.arange(N_ROUNDS)
    reward = (rng.random(N_ROUNDS) < 0.1 + 0.15 * action / N_ACTIONS).astype(float)
    q_hat = 0.08 + 0.2 * rng.random((N_ROUNDS, N_ACTIONS))
    return {
        "action": action,
        "pscore": behaviour[rows, action],
        "action_dist": evaluation[:, :, None],
        "reward": reward,
        "q_hat": q_hat[:, :, None],
    }


def slate_case(seed: int = 18) -> dict[str, np.ndarray]:
    """Slates of ``LEN_LIST`` positions: per-slot rewards and the behaviour and evaluation
    policies' marginal item-position propensities of the logged items."""
    rng = np.random.default_rng(seed)
    n = N_SLATES * LEN_LIST
    return {
        "slate_id": np.repeat(np.arange(N_SLATES), LEN_LIST),
        "position": np.tile(np.arange(LEN_LIST), N_SLATES),
        "reward": (rng.random(n) < 0.15).astype(float),
        "pscore_item_position": 0.05 + 0.9 * rng.random(n),
        "evaluation_policy_pscore_item_position": rng.random(n),
    }
