"""Biased matrix factorisation for explicit ratings, trained by stochastic gradient
descent (Koren, Bell & Volinsky 2009, "Matrix factorization techniques for recommender
systems", IEEE Computer; Funk 2006).

    r_hat_ui = mu + b_u + b_i + p_u . q_i

minimises sum_{(u,i) observed} (r_ui - r_hat_ui)^2 + lambda (|p_u|^2 + |q_i|^2)
+ lambda_b (b_u^2 + b_i^2). Each epoch visits the ratings in a seeded random order in
mini-batches; within a batch the per-rating updates
    e = r - r_hat;  b_u += lr (e - lambda_b b_u);  p_u += lr (e q_i - lambda p_u);  ...
are computed from the same parameters and summed (vectorised, torch ``index_add_``), with the
learning rate decayed by ``lr_decay`` per epoch. Rankings use r_hat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recommenders.core.base import InteractionData, Recommender


class SGDMFRecommender(Recommender):
    """Biased MF. Parameters: ``factors``, ``epochs``, ``learning_rate``, ``lr_decay``,
    ``regularization`` (lambda on factors), ``bias_regularization`` (lambda_b),
    ``batch_size``, ``init_std``, ``seed``."""

    name = "sgd_mf"
    feedback: ClassVar[str] = "explicit"
    default_params: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "epochs": 30,
        "learning_rate": 0.01,
        "lr_decay": 0.96,
        "regularization": 0.05,
        "bias_regularization": 0.01,
        "batch_size": 256,
        "init_std": 0.1,
        "seed": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.global_mean = 0.0
        self.rating_range = (-np.inf, np.inf)
        self.user_bias = np.zeros(0, np.float64)
        self.item_bias = np.zeros(0, np.float64)
        self.user_factors = np.zeros((0, self.params["factors"]))
        self.item_factors = np.zeros((0, self.params["factors"]))

    def _fit(self, data: InteractionData) -> None:
        import torch

        p = self.params
        coo = data.matrix.tocoo()
        rng = np.random.default_rng(p["seed"])
        ratings_np = coo.data.astype(np.float64)
        self.global_mean = float(ratings_np.mean())
        self.rating_range = (float(ratings_np.min()), float(ratings_np.max()))
        t = torch.from_numpy
        users, items, ratings = (
            t(coo.row.astype(np.int64)),
            t(coo.col.astype(np.int64)),
            t(ratings_np),
        )
        bu, bi = (
            torch.zeros(data.n_users, dtype=torch.float64),
            torch.zeros(data.n_items, dtype=torch.float64),
        )
        pf = t(rng.normal(0, p["init_std"], (data.n_users, p["factors"])))
        qf = t(rng.normal(0, p["init_std"], (data.n_items, p["factors"])))
        # the batches are small: one thread avoids synchronisation costs that dominate them
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self._epochs(users, items, ratings, (bu, bi, pf, qf), rng, torch)
        finally:
            torch.set_num_threads(previous_threads)
        self.user_bias, self.item_bias = bu.numpy(), bi.numpy()
        self.user_factors, self.item_factors = pf.numpy(), qf.numpy()

    def _epochs(self, users, items, ratings, state, rng, torch) -> None:
        p = self.params
        bu, bi, pf, qf = state
        reg, reg_b, lr = p["regularization"], p["bias_regularization"], p["learning_rate"]
        for _ in range(p["epochs"]):
            order = torch.from_numpy(rng.permutation(len(ratings)))
            for batch in torch.split(order, p["batch_size"]):
                u, i, r = users[batch], items[batch], ratings[batch]
                pu, qi = pf[u], qf[i]
                error = r - (self.global_mean + bu[u] + bi[i] + (pu * qi).sum(1))
                bu.index_add_(0, u, lr * (error - reg_b * bu[u]))
                bi.index_add_(0, i, lr * (error - reg_b * bi[i]))
                pf.index_add_(0, u, lr * (error[:, None] * qi - reg * pu))
                qf.index_add_(0, i, lr * (error[:, None] * pu - reg * qi))
            lr *= p["lr_decay"]

    def predict(self, user_indices: np.ndarray, item_indices: np.ndarray) -> np.ndarray:
        """Predicted ratings r_hat for (user, item) pairs, clipped to the training range;
        users or items unknown to the model get the biases that exist (else mu)."""
        u = np.asarray(user_indices, dtype=np.int64)
        i = np.asarray(item_indices, dtype=np.int64)
        known_u, known_i = u < self.n_users, i < self.n_items
        both = known_u & known_i
        pred = np.full(len(u), self.global_mean)
        pred[known_u] += self.user_bias[u[known_u]]
        pred[known_i] += self.item_bias[i[known_i]]
        pred[both] += (self.user_factors[u[both]] * self.item_factors[i[both]]).sum(1)
        return np.clip(pred, *self.rating_range)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        u = user_indices
        return (
            self.global_mean
            + self.user_bias[u][:, None]
            + self.item_bias[None, :]
            + self.user_factors[u] @ self.item_factors.T
        )

    def _save_state(self, folder: Path) -> None:
        np.savez(
            folder / "sgd_mf.npz",
            global_mean=self.global_mean,
            rating_range=np.array(self.rating_range),
            user_bias=self.user_bias,
            item_bias=self.item_bias,
            user_factors=self.user_factors,
            item_factors=self.item_factors,
        )

    def _load_state(self, folder: Path) -> None:
        with np.load(folder / "sgd_mf.npz") as s:
            self.global_mean = float(s["global_mean"])
            low, high = (float(v) for v in s["rating_range"])
            self.rating_range = (low, high)
            self.user_bias, self.item_bias = s["user_bias"], s["item_bias"]
            self.user_factors, self.item_factors = s["user_factors"], s["item_factors"]
