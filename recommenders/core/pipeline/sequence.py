"""Next-item scores for users with a short history: a smoothed first-order Markov chain,
and the co-occurrence of items early in the users' histories.

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

Order is only part of the signal: a user's first interactions are made in a few sessions,
often with tied timestamps, and what else users picked *early* next to an item predicts
the next one better than what they picked at any time (measured on ML-1M, see
:class:`EarlyCooccurrence`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommenders.core.pipeline.sparse import row_sums, weighted_row_sum
from recommenders.core.two_tower.inputs import Events


@dataclass
class SmoothedConditionals:
    """Item-to-item counts (n_items x n_items CSR) and a prior q (n_items), scored as the
    recency-weighted mixture of additively smoothed conditionals (:func:`smoothed_mixture`);
    saved as arrays whose names start with ``array_prefix``."""

    counts: sp.csr_matrix
    prior: np.ndarray
    smoothing: float
    history_decay: float

    array_prefix: ClassVar[str]
    default_recent: ClassVar[int]

    @property
    def n_items(self) -> int:
        return len(self.prior)

    def scores(self, history: np.ndarray, recent: int | None = None) -> np.ndarray:
        """p(j | the ``recent`` latest items of ``history``) for every tracked item j (the
        prior q for an empty history); sums to 1."""
        recent = self.default_recent if recent is None else recent
        return smoothed_mixture(
            self.counts, self.prior, self.smoothing, self.history_decay, history, recent
        )

    def arrays(self) -> dict[str, np.ndarray]:
        c, prefix = self.counts, self.array_prefix
        return {
            f"{prefix}_indptr": c.indptr,
            f"{prefix}_indices": c.indices,
            f"{prefix}_data": c.data,
            f"{prefix}_prior": self.prior,
            f"{prefix}_params": np.array([self.smoothing, self.history_decay]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self:
        prefix = cls.array_prefix
        prior = arrays[f"{prefix}_prior"]
        n = len(prior)
        counts = sp.csr_matrix(
            (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
            shape=(n, n),
        )
        smoothing, decay = (float(v) for v in arrays[f"{prefix}_params"])
        return cls(counts, prior, smoothing, decay)


@dataclass
class NextItemModel(SmoothedConditionals):
    """Transition counts T (n_items x n_items CSR) and the early prior q (n_items)."""

    smoothing: float = 100.0
    history_decay: float = 0.5

    array_prefix: ClassVar[str] = "next"
    default_recent: ClassVar[int] = 3

    @property
    def transitions(self) -> sp.csr_matrix:
        return self.counts

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


@dataclass
class EarlyCooccurrence(SmoothedConditionals):
    """Co-occurrence of items among the users' first ``early_positions`` interactions.

    With E_u the set of user u's items at positions below ``early_positions``::

        C_ij = #{u : i in E_u, j in E_u},  i != j
        q_j  = (#{u : j in E_u} + 1) / sum_k (#{u : k in E_u} + 1)

    and a history h (oldest first, r = 0 for the latest item) scores item j as the
    recency-weighted mixture of the additively smoothed conditionals (item-to-item
    "users who picked i early also picked j early", normalised like the chain above)::

        p(j | h) = sum_r decay^r (C_{h_r j} + beta q_j) / (C_{h_r .} + beta) / sum_r decay^r

    Symmetric and unordered, so it does not depend on how tied timestamps are broken.
    """

    smoothing: float = 20.0
    history_decay: float = 0.6

    array_prefix: ClassVar[str] = "early"
    default_recent: ClassVar[int] = 5

    @property
    def cooccurrence(self) -> sp.csr_matrix:
        return self.counts

    @classmethod
    def fit(
        cls,
        events: Events,
        n_items: int,
        early_positions: int = 12,
        smoothing: float = 20.0,
        history_decay: float = 0.6,
    ) -> EarlyCooccurrence:
        """Counts from ``events`` (sorted by user, then time, as :class:`Events` is)."""
        early = events.positions() < early_positions
        n_users = len(events.user_start) - 1
        membership = sp.csr_matrix(
            (np.ones(int(early.sum()), np.float32), (events.users[early], events.items[early])),
            shape=(n_users, n_items),
        )
        membership.sum_duplicates()
        membership.data[:] = 1.0
        counts = (membership.T @ membership).tocsr()
        counts.setdiag(0.0)
        counts.eliminate_zeros()
        users_per_item = np.asarray(membership.sum(axis=0), np.float64).ravel() + 1.0
        prior = (users_per_item / users_per_item.sum()).astype(np.float32)
        return cls(counts.astype(np.float32), prior, smoothing, history_decay)


def smoothed_mixture(
    counts: sp.csr_matrix,
    prior: np.ndarray,
    smoothing: float,
    decay: float,
    history: np.ndarray,
    recent: int,
) -> np.ndarray:
    """sum_r decay^r (counts[h_r, j] + smoothing prior_j) / (counts[h_r, .] + smoothing),
    normalised by sum_r decay^r, over the ``recent`` latest tracked items h_r of
    ``history`` (oldest first; r = 0 for the latest); ``prior`` when none is tracked."""
    latest = np.asarray(history, dtype=np.int64)[::-1][:recent]
    latest = latest[(latest >= 0) & (latest < len(prior))]
    if len(latest) == 0:
        return prior.copy()
    weights = decay ** np.arange(len(latest), dtype=np.float64)
    weights /= weights.sum()
    totals = row_sums(counts, latest) + smoothing
    mixed = smoothing * float(np.sum(weights / totals)) * np.asarray(prior, np.float64)
    columns, values = weighted_row_sum(counts, latest, weights / totals)
    mixed[columns] += values
    return mixed.astype(np.float32)


@dataclass
class EarlyTrend:
    """What users picked early in their histories shortly before a given time.

    New users pick their first items from what is on offer when they arrive (a sign-up
    page, a launch); the items other users picked among their first ``early_positions``
    interactions during the days before time t say that, where the global early prior q
    (as in :class:`EarlyCooccurrence`) does not. With those early events (t_e, i_e)::

        n_j(t) = sum_{e: t - 3 tau <= t_e <= t} exp(-(t - t_e) / tau) [i_e = j]
        p_j(t) = (n_j(t) + beta q_j) / (sum_k n_k(t) + beta)

    and the expert is the log-lift log p_j(t) - log q_j (0 for a time with no early event
    before it). Only events up to t are read: no look-ahead.
    """

    times: np.ndarray  # early events' unix seconds, sorted
    items: np.ndarray  # their items
    prior: np.ndarray  # q
    tau_days: float = 14.0
    smoothing: float = 20.0

    @classmethod
    def fit(
        cls,
        events: Events,
        n_items: int,
        early_positions: int = 12,
        tau_days: float = 14.0,
        smoothing: float = 20.0,
    ) -> EarlyTrend:
        early = events.positions() < early_positions
        order = np.argsort(events.timestamps[early], kind="stable")
        times = events.timestamps[early][order]
        items = events.items[early][order]
        counts = np.bincount(items, minlength=n_items).astype(np.float64) + 1.0
        return cls(times, items, (counts / counts.sum()).astype(np.float32), tau_days, smoothing)

    @property
    def n_items(self) -> int:
        return len(self.prior)

    def log_lift(self, timestamp: float) -> np.ndarray:
        """log p_j(t) - log q_j for every tracked item j at ``timestamp`` (unix seconds)."""
        tau = self.tau_days * 86400.0
        start = np.searchsorted(self.times, timestamp - 3.0 * tau, side="left")
        end = np.searchsorted(self.times, timestamp, side="right")
        if end <= start:
            return np.zeros(self.n_items, np.float32)
        weights = np.exp(-(timestamp - self.times[start:end]) / tau)
        counts = np.bincount(self.items[start:end], weights=weights, minlength=self.n_items)
        p = (counts + self.smoothing * self.prior) / (weights.sum() + self.smoothing)
        return (np.log(p) - np.log(self.prior)).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "early_trend_times": self.times,
            "early_trend_items": self.items,
            "early_trend_prior": self.prior,
            "early_trend_params": np.array([self.tau_days, self.smoothing]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> EarlyTrend:
        tau_days, smoothing = (float(v) for v in arrays["early_trend_params"])
        return cls(
            arrays["early_trend_times"],
            arrays["early_trend_items"],
            arrays["early_trend_prior"],
            tau_days,
            smoothing,
        )
