"""The reward model of DM and DR on logged lists: a click model that sees the user.

``q(x, a, j) = sigmoid(beta_j + z(x, a) . gamma)`` (``analytics.offpolicy.click_model``),
fitted on the window's logged (list, position) rows, with features

- the item's smoothed log click rate per examined impression (position-based, shrunk towards
  the pooled rate: ``item_log_rates``);
- production's score of the item for this user: the ranker's ``score`` logged with each
  served item, averaged over the user's lists in the window. This is where the user enters:
  the same item scores high for one user and low for another;
- a flag for (user, item) pairs production never served in the window (a candidate's item
  the user was never shown), whose score is then the user's lowest logged score.

Without the score the model sees only item and position, and DM is biased wherever relevance
depends on who is asked; DR stays unbiased whatever ``q`` is, but its variance shrinks as
``q`` approaches the truth (``benchmarks/offpolicy.py`` measures both on the simulator).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from analytics.offpolicy.click_model import ClickModel, fit_click_model, item_log_rates


class UserAwareClickModel:
    """``q`` for any (user, item, position), fitted on the logged lists."""

    def __init__(
        self,
        user_ids: Sequence[str],
        items: Sequence[Sequence[str]],
        scores: np.ndarray,
        rewards: np.ndarray,
    ) -> None:
        n, k = rewards.shape
        self.k = k
        self.codes: dict[str, int] = {}
        for row in items:
            for item in row:
                self.codes.setdefault(item, len(self.codes))
        self._scores = self._user_scores(user_ids, items, scores)
        rows = np.array([self.codes[item] for row in items for item in row])
        positions = np.tile(np.arange(k), n)
        # one code past the logged items: never logged, so it gets the pooled rate
        self.rates = item_log_rates(
            rows, positions, rewards.ravel(), n_positions=k, n_items=len(self.codes) + 1
        )
        features = self.features(user_ids, items)
        self.model: ClickModel = fit_click_model(
            features.reshape(n * k, -1), positions, rewards.ravel(), n_positions=k
        )

    @staticmethod
    def _user_scores(
        user_ids: Sequence[str], items: Sequence[Sequence[str]], scores: np.ndarray
    ) -> dict[str, dict[str, float]]:
        sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for user, row, row_scores in zip(user_ids, items, scores, strict=True):
            for item, score in zip(row, row_scores, strict=True):
                if math.isfinite(score):
                    sums[user][item].append(float(score))
        return {
            user: {item: float(np.mean(values)) for item, values in by_item.items()}
            for user, by_item in sums.items()
        }

    def features(self, user_ids: Sequence[str], items: Sequence[Sequence[str]]) -> np.ndarray:
        """(lists, k, 3): item log rate, production's score for the user, unscored flag."""
        out = np.zeros((len(user_ids), self.k, 3))
        for i, (user, row) in enumerate(zip(user_ids, items, strict=True)):
            known = self._scores.get(user, {})
            lowest = min(known.values(), default=0.0)
            for j, item in enumerate(row[: self.k]):
                out[i, j, 0] = self.rates[self.codes.get(item, len(self.codes))]
                score = known.get(item)
                out[i, j, 1] = lowest if score is None else score
                out[i, j, 2] = score is None
        return out

    def predict(self, user_ids: Sequence[str], items: Sequence[Sequence[str]]) -> np.ndarray:
        """``q`` of each list's items at their positions, (lists, k); 0 past a short list."""
        n = len(user_ids)
        z = self.features(user_ids, items).reshape(n * self.k, -1)
        q = self.model.predict(z, np.tile(np.arange(self.k), n)).reshape(n, self.k)
        lengths = np.array([min(len(row), self.k) for row in items])
        return np.where(np.arange(self.k)[None, :] < lengths[:, None], q, 0.0)
