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
per-user Python loop. The rows are split into ``num_threads`` chunks of equal non-zeros,
each solved by one thread. Note ``implicit``'s convention differs: it uses c_ui = alpha *
r_ui, so implicit with the matrix 1 + alpha * R solves the same problem.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
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


def conjugate_gradient_half_step(confidence, confidence_minus_one, x, y, gram, cg_steps: int):
    """Update every row of ``x`` (torch, in place) towards the solution of
    (G + Y^T (C_u - I) Y) x_u = Y^T C_u p_u, G = Y^T Y + lambda I, with ``cg_steps`` CG
    steps. ``confidence`` holds c_ui on the pattern, ``confidence_minus_one`` c_ui - 1
    (rows of x and of both matrices aligned)."""
    import torch

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


def row_chunks(matrix: sp.csr_matrix, n_chunks: int) -> list[tuple[int, int]]:
    """Contiguous row ranges holding about equal numbers of stored entries."""
    targets = np.linspace(0, matrix.nnz, n_chunks + 1)[1:-1]
    cuts = np.searchsorted(matrix.indptr, targets)
    bounds = np.unique(np.r_[0, cuts, matrix.shape[0]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


class ALSRecommender(FactorState, Recommender):
    """Hu-Koren-Volinsky implicit ALS with batched CG; scores s_ui = x_u . y_i.

    Parameters: ``factors``, ``regularization`` (lambda), ``alpha`` (confidence slope),
    ``iterations``, ``cg_steps``, ``seed`` (initial factors ~ U(0, 0.01)),
    ``num_threads`` (worker threads during fit; 0 = torch's thread count).
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
        threads = thread_count(p["num_threads"]) or torch.get_num_threads()

        def operators(m: sp.csr_matrix):
            """Per chunk of rows: (start, stop, C, C - 1) as torch CSR."""
            parts = []
            for start, stop in row_chunks(m, threads):
                rows = m[start:stop]
                c = 1.0 + p["alpha"] * np.abs(rows.data)
                parts.append((start, stop, _torch_csr(rows, c), _torch_csr(rows, c - 1.0)))
            return parts

        by_user, by_item = operators(users_items), operators(items_users)
        eye = torch.eye(f, dtype=torch.float32)
        # each worker thread runs single-threaded torch ops on its own rows (torch releases
        # the GIL): one join per half-step instead of an OpenMP barrier per operation
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad(), ThreadPoolExecutor(max_workers=threads) as pool:

                def half_step(parts, target, fixed) -> None:
                    gram = fixed.T @ fixed + p["regularization"] * eye
                    jobs = [
                        pool.submit(
                            conjugate_gradient_half_step,
                            c,
                            c1,
                            target[a:b],
                            fixed,
                            gram,
                            p["cg_steps"],
                        )  # fmt: skip
                        for a, b, c, c1 in parts
                    ]
                    for job in jobs:
                        job.result()

                for _ in range(p["iterations"]):
                    half_step(by_user, x, y)
                    half_step(by_item, y, x)
        finally:
            torch.set_num_threads(previous_threads)
        self.user_factors = x.numpy().copy()
        self.item_factors = y.numpy().copy()
