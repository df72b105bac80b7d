"""Logged lists as the estimators read them, checked once on construction.

Layout: ``n`` logged lists of ``k`` positions (``k = 1`` for a single recommendation).
``rewards[i, j]`` is the click (or any reward) at position ``j`` of list ``i``;
``logging_propensities[i, j]`` the probability that the logging (serving) policy put the
logged item at that position, its *marginal* item-position probability (1 for a
deterministic list); ``target_propensities[i, j]`` the same probability under the candidate.
``user_ids`` groups lists by user for intervals; without it each list is its own user.

A log without propensities (lists served before exploration was on) is refused: an estimate
from guessed propensities would look valid and be wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def check_matrix(name: str, values: object, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A float array of shape (lists, positions) (a 1-d array is one position per list)."""
    if values is None:
        raise ValueError(f"{name}: required")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: must be numbers (NaN for missing)") from error
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name}: must have shape (lists, positions)")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name}: must have shape {shape}, got {array.shape}")
    return array


def check_propensities(name: str, values: object, shape: tuple[int, ...]) -> np.ndarray:
    """Probabilities in (0, 1] for the logging policy (every logged item had a chance)."""
    array = check_matrix(name, values, shape)
    missing = int(np.sum(np.isnan(array)))
    if missing:
        raise ValueError(
            f"{name}: missing for {missing} of {array.size} logged positions; lists served "
            "without exploration logging carry no propensity and cannot be evaluated "
            "off-policy"
        )
    if np.any(~np.isfinite(array)) or np.any(array <= 0) or np.any(array > 1):
        raise ValueError(f"{name}: every propensity must lie in (0, 1]")
    return array


@dataclass(frozen=True)
class LoggedLists:
    """The checked arrays of a log (see the module docstring)."""

    rewards: np.ndarray
    logging_propensities: np.ndarray
    target_propensities: np.ndarray
    user_index: np.ndarray
    n_users: int

    @property
    def n_lists(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def positions(self) -> int:
        return int(self.rewards.shape[1])

    @classmethod
    def build(
        cls,
        rewards: object,
        logging_propensities: object,
        target_propensities: object,
        user_ids: Sequence[object] | np.ndarray | None = None,
    ) -> LoggedLists:
        reward = check_rewards(rewards)
        logging = check_propensities("logging_propensities", logging_propensities, reward.shape)
        target = check_matrix("target_propensities", target_propensities, reward.shape)
        if np.any(~np.isfinite(target)) or np.any((target < 0) | (target > 1)):
            raise ValueError("target_propensities: every probability must lie in [0, 1]")
        users, count = user_index(user_ids, reward.shape[0])
        return cls(reward, logging, target, users, count)


def check_rewards(rewards: object, name: str = "rewards") -> np.ndarray:
    """Finite rewards of shape (lists, positions), at least one list."""
    reward = check_matrix(name, rewards)
    if reward.shape[0] == 0:
        raise ValueError(f"{name}: no logged lists in the window")
    if reward.shape[1] == 0 or not np.all(np.isfinite(reward)):
        raise ValueError(f"{name}: must be finite, at least one position per list")
    return reward


def user_index(user_ids: Sequence[object] | np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Dense user numbers ``0..U-1`` per list, and ``U``."""
    if user_ids is None:
        return np.arange(n), n
    ids = np.asarray(user_ids)
    if ids.shape != (n,):
        raise ValueError(f"user_ids: one id per logged list is required ({n})")
    _, index = np.unique(ids, return_inverse=True)
    return index.astype(np.int64), int(index.max()) + 1


def importance_weights(logs: LoggedLists, clip: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Raw weights ``pi_e / pi_0`` and the clipped ones ``min(w, clip)`` (as OBP's
    ``lambda_``)."""
    raw = logs.target_propensities / logs.logging_propensities
    if clip is None:
        return raw, raw
    if isinstance(clip, bool) or not isinstance(clip, int | float) or not clip > 0:
        raise ValueError(f"clip: must be a number greater than 0, got {clip!r}")
    return raw, np.minimum(raw, float(clip))
