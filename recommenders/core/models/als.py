"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008, "Collaborative Filtering for
Implicit Feedback Datasets", ICDM), solved by batched conjugate gradient.

Preference p_ui = [r_ui > 0], confidence c_ui = 1 + alpha * r_ui. Minimise

    sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + lambda (sum_u |x_u|^2 + sum_i |y_i|^2)

by alternating exact-in-the-limit solves of, for every user u,

    (Y^T Y + Y^T (C_u - I) Y + lambda I) x_u = Y^T C_u p_u

(the Gramian trick: Y^T Y is shared; C_u - I is non-zero only on u's items), and the
same for items. Each half-step runs ``cg_steps`` conjugate-gradient steps warm-started
from the previous factors (Takács, Pilászy & Tikk 2011, "Applications of the conjugate
gradient method for implicit feedback collaborative filtering", RecSys), for all users
at once: the products Y^T (C_u - I) Y p_u are one sampled dense-dense product on the
sparsity pattern (SDDMM) and one sparse-dense product (SpMM) in torch, so there is no
per-user Python loop. Note ``implicit``'s convention differs: it uses c_ui = alpha *
r_ui, so implicit with the matrix 1 + alpha * R solves the same problem.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData, Recommender
from recommenders.core.models._factors import FactorState, thread_count


def _torch_csr(matrix: sp.csr_matrix, values: np.ndarray):  # -> torch.Tensor
    import torch

    with warnings.catch_warnings():
        # "sparse CSR support is in beta" and "invariant checks disabled": the pattern
        # comes from a canonical scipy CSR, so the invariants hold
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(values.astype(np.float32)),
            size=matrix.shape,
        )


def conjugate_gradient_half_step(
    confidence, confidence_minus_one, x, y, regularization: float, cg_steps: int
):
    """Update every row of ``x`` (torch, in place) towards the solution of
    (Y^T Y + Y^T (C_u - I) Y + lambda I) x_u = Y^T C_u p_u with ``cg_steps`` CG steps.

    ``confidence`` holds c_ui on the pattern, ``confidence_minus_one`` c_ui - 1."""
    import torch

    gram = y.T @ y + regularization * torch.eye(y.shape[1], dtype=y.dtype)
    pattern_values = confidence_minus_one.values()

    def apply_a(p):
        sampled = torch.sparse.sampled_addmm(confidence_minus_one, p, y.T, beta=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            weighted = torch.sparse_csr_tensor(
                confidence_minus_one.crow_indices(),
                confidence_minus_one.col_indices(),
                sampled.values() * pattern_values,
                size=confidence_minus_one.shape,
            )
        return p @ gram + weighted @ y

    residual = confidence @ y - apply_a(x)
    direction = residual.clone()
    rs_old = (residual * residual).sum(1)
    for _ in range(cg_steps):
        a_direction = apply_a(direction)
        step = rs_old / (direction * a_direction).sum(1).clamp_min(1e-20)
        x += step[:, None] * direction
        residual -= step[:, None] * a_direction
        rs_new = (residual * residual).sum(1)
        direction = residual + (rs_new / rs_old.clamp_min(1e-20))[:, None] * direction
        rs_old = rs_new
    return x


class ALSRecommender(FactorState, Recommender):
    """Hu-Koren-Volinsky implicit ALS with batched CG; scores s_ui = x_u . y_i.

    Parameters: ``factors``, ``regularization`` (lambda), ``alpha`` (confidence slope),
    ``iterations``, ``cg_steps``, ``seed`` (initial factors ~ U(0, 0.01)),
    ``num_threads`` (torch threads during fit; 0 = library default).
    """

    name = "als"
    default_params: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "regularization": 1.0,
        "alpha": 1.0,
        "iterations": 15,
        "cg_steps": 3,
        "seed": 0,
        "num_threads": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.user_factors = np.zeros((0, self.params["factors"]), np.float32)
        self.item_factors = np.zeros((0, self.params["factors"]), np.float32)

    def _fit(self, data: InteractionData) -> None:
        import torch

        p = self.params
        users_items = data.matrix.tocsr()
        items_users = users_items.T.tocsr()
        rng = np.random.default_rng(p["seed"])
        f = p["factors"]
        x = torch.from_numpy(rng.random((data.n_users, f), dtype=np.float32) * 0.01)
        y = torch.from_numpy(rng.random((data.n_items, f), dtype=np.float32) * 0.01)

        def operators(m: sp.csr_matrix):
            c = 1.0 + p["alpha"] * np.abs(m.data)
            return _torch_csr(m, c), _torch_csr(m, c - 1.0)

        by_user, by_item = operators(users_items), operators(items_users)
        previous_threads = torch.get_num_threads()
        threads = thread_count(p["num_threads"])
        if threads:
            torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                for _ in range(p["iterations"]):
                    conjugate_gradient_half_step(*by_user, x, y, p["regularization"], p["cg_steps"])
                    conjugate_gradient_half_step(*by_item, y, x, p["regularization"], p["cg_steps"])
        finally:
            torch.set_num_threads(previous_threads)
        self.user_factors = x.numpy().copy()
        self.item_factors = y.numpy().copy()
