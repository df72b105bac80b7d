"""Next-item scores for users with a short history: a smoothed first-order Markov chain.

A user known by only a few interactions carries little taste signal for the towers and
the ranker, but the order of those interactions does: what users do next after an item is
concentrated (a sequence-aware "next item" signal, the Markov part of FPMC, Rendle et al.
2010, "Factorizing personalized Markov chains for next-basket recommendation", WWW).

Counts, over the users' time-ordered interactions, of item j following item i within
``window`` positions (the g-th next one weighted ``gap_decay^(g-1)``)::

    T_ij = sum_users sum_{g=1..window} gap_decay^(g-1) [x_p = i, x_{p+g} = j]

and an "early" prior, the share of item j among the interactions at positions below
``early_positions`` (what users pick while their history is short, rather than the
global popularity)::

    q_j = (e_j + 1) / sum_k (e_k + 1)

A history h (oldest first) scores item j as the recency-weighted mixture of the
additively smoothed transition distributions of its items (r = 0 for the latest one)::

    p(j | h) = sum_r history_decay^r (T_{h_r j} + beta q_j) / (T_{h_r .} + beta)
               / sum_r history_decay^r

which is q itself for an item never followed by anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommenders.core.two_tower.inputs import Events


@dataclass
class NextItemModel:
    """Transition counts T (n_items x n_items CSR) and the early prior q (n_items)."""

    transitions: sp.csr_matrix
    prior: np.ndarray
    smoothing: float = 100.0
    history_decay: float = 0.5

    @classmethod
    def fit(
        cls,
        events: Events,
        n_items: int,
        window: int = 3,
        gap_decay: float = 0.5,
        early_positions: int = 10,
        smoothing: float = 100.0,
        history_decay: float = 0.5,
    ) -> NextItemModel:
        """Counts from ``events`` (sorted by user, then time, as :class:`Events` is)."""
        users, items = events.users, events.items
        rows, cols, weights = [], [], []
        for gap in range(1, window + 1):
            same = users[gap:] == users[:-gap]
            rows.append(items[:-gap][same])
            cols.append(items[gap:][same])
            weights.append(np.full(int(same.sum()), gap_decay ** (gap - 1), np.float32))
        transitions = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        transitions.sum_duplicates()
        early = events.positions() < early_positions
        counts = np.bincount(items[early], minlength=n_items).astype(np.float64) + 1.0
        prior = (counts / counts.sum()).astype(np.float32)
        return cls(transitions, prior, smoothing, history_decay)

    @property
    def n_items(self) -> int:
        return len(self.prior)

    def scores(self, history: np.ndarray, recent: int = 3) -> np.ndarray:
        """p(j | the ``recent`` latest items of ``history``) for every tracked item j (the
        prior q for an empty history); sums to 1."""
        latest = np.asarray(history, dtype=np.int64)[::-1][:recent]
        latest = latest[(latest >= 0) & (latest < self.n_items)]
        if len(latest) == 0:
            return self.prior.copy()
        weights = self.history_decay ** np.arange(len(latest), dtype=np.float64)
        weights /= weights.sum()
        rows = self.transitions[latest]
        totals = np.asarray(rows.sum(axis=1)).ravel() + self.smoothing
        mixed = np.asarray((sp.csr_matrix((weights / totals)[None, :]) @ rows).todense()).ravel()
        mixed += self.smoothing * float(np.sum(weights / totals)) * self.prior
        return mixed.astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        t = self.transitions
        return {
            "next_indptr": t.indptr,
            "next_indices": t.indices,
            "next_data": t.data,
            "next_prior": self.prior,
            "next_params": np.array([self.smoothing, self.history_decay]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> NextItemModel:
        prior = arrays["next_prior"]
        n = len(prior)
        transitions = sp.csr_matrix(
            (arrays["next_data"], arrays["next_indices"], arrays["next_indptr"]), shape=(n, n)
        )
        smoothing, decay = (float(v) for v in arrays["next_params"])
        return cls(transitions, prior, smoothing, decay)
