"""The pseudo-inverse (PI) estimator for slates (Swaminathan, Krishnamurthy, Agarwal, Dudik,
Langford, Jose and Zitouni 2017, "Off-policy evaluation for slate recommendation", NeurIPS).

For a slate ``s`` of ``l`` slots over ``m`` items, ``1_s`` in ``{0,1}^(l m)`` marks which item
fills each slot. With the logging policy's slot Gram matrix ``Gamma_x = E_mu[1_s 1_s^T]`` and
the candidate's slot marginals ``q_x = E_pi[1_s]``,

    V_PI = 1/n sum_i r_i * q_{x_i}^T Gamma_{x_i}^+ 1_{s_i}

with ``r_i`` the slate's total reward and ``^+`` the Moore-Penrose pseudo-inverse. It is
unbiased when the slate reward is additive over (slot, item) pairs and ``q_x`` lies in the
span of the logged slates (else a warning), and needs far fewer lists than whole-slate IPS.
For a logging policy that fills slots independently it reduces to
``r_i * (sum_j w_ij - l + 1)`` (the paper's section 3). The slot index of item ``a`` at slot
``j`` is ``j * m + a``.
"""

from __future__ import annotations

import numpy as np

from analytics.offpolicy import result
from analytics.offpolicy.estimators import UserIds
from analytics.offpolicy.logs import check_rewards, user_index
from analytics.offpolicy.result import IntervalOptions, OffPolicyEstimate, coverage

SPAN_TOLERANCE = 1e-8


def _slates(name: str, slates: object, n_items: int) -> np.ndarray:
    array = np.asarray(slates)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: must be an integer array of shape (slates, slots)")
    if np.any(array < 0) or np.any(array >= n_items):
        raise ValueError(f"{name}: item indices must lie in [0, {n_items})")
    return array


def slot_indicators(slates: np.ndarray, n_items: int) -> np.ndarray:
    """``1_s`` of each slate, shape ``(slates, slots * n_items)``."""
    slates = _slates("slates", slates, n_items)
    out = np.zeros((slates.shape[0], slates.shape[1] * n_items))
    rows = np.arange(slates.shape[0])[:, None]
    out[rows, np.arange(slates.shape[1]) * n_items + slates] = 1.0
    return out


def slot_gram(slates: object, probabilities: object, n_items: int) -> np.ndarray:
    """``Gamma = sum_s mu(s) 1_s 1_s^T`` from the logging policy's support (every slate it
    can serve in a context, with its probability)."""
    p = np.asarray(probabilities, dtype=float)
    indicators = slot_indicators(np.asarray(slates), n_items)
    if p.shape != (indicators.shape[0],) or np.any(p < 0) or abs(p.sum() - 1) > 1e-9:
        raise ValueError("probabilities: one probability per slate, summing to 1")
    return (indicators * p[:, None]).T @ indicators


def pseudo_inverse(
    slate_rewards: object,
    logged_slates: object,
    contexts: object,
    target_marginals: object,
    logging_grams: object,
    *,
    user_ids: UserIds = None,
    interval: str = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    min_ess_fraction: float = 0.01,
) -> OffPolicyEstimate:
    """PI estimate of the candidate's expected slate reward.

    ``slate_rewards`` (n,): each logged slate's total reward; ``logged_slates`` (n, l): item
    indices; ``contexts`` (n,): each slate's context in ``[0, C)``; ``target_marginals``
    (C, m, l): ``pi_e(a at j | x)``; ``logging_grams`` (C, l m, l m): ``slot_gram`` of the
    logging policy in each context.
    """
    options = IntervalOptions(interval, alpha, n_bootstrap, seed)
    rewards = check_rewards(slate_rewards, "slate_rewards")
    if rewards.shape[1] != 1:
        raise ValueError("slate_rewards: one total reward per slate")
    q = np.asarray(target_marginals, dtype=float)
    if q.ndim != 3:
        raise ValueError("target_marginals: must have shape (contexts, items, slots)")
    n_contexts, n_items, slots = q.shape
    grams = np.asarray(logging_grams, dtype=float)
    if grams.shape != (n_contexts, slots * n_items, slots * n_items):
        size = slots * n_items
        raise ValueError(f"logging_grams: must have shape {(n_contexts, size, size)}")
    slates = _slates("logged_slates", logged_slates, n_items)
    if slates.shape != (rewards.shape[0], slots):
        raise ValueError(f"logged_slates: must have shape {(rewards.shape[0], slots)}")
    context = np.asarray(contexts)
    if context.shape != (rewards.shape[0],) or not np.issubdtype(context.dtype, np.integer):
        raise ValueError("contexts: one integer context per slate is required")
    if np.any(context < 0) or np.any(context >= n_contexts):
        raise ValueError(f"contexts: must lie in [0, {n_contexts})")
    flat_q = q.transpose(0, 2, 1).reshape(n_contexts, -1)  # index j * m + a
    pinv = np.linalg.pinv(grams, hermitian=True)
    projected = np.einsum("cab,cb->ca", pinv, flat_q)
    notes = []
    outside = (
        np.abs(np.einsum("cab,cb->ca", grams, projected) - flat_q).max(axis=1) > SPAN_TOLERANCE
    )
    if np.any(outside):
        notes.append(outside_span_note(int(outside.sum()), n_contexts))
    pseudo_weights = projected[context[:, None], np.arange(slots) * n_items + slates].sum(axis=1)
    return pseudo_inverse_from_weights(
        rewards, pseudo_weights, user_ids=user_ids, notes=tuple(notes), options=options,
        min_ess_fraction=min_ess_fraction,
    )  # fmt: skip


def outside_span_note(n_outside: int, n_contexts: int) -> str:
    return (
        f"{n_outside} of {n_contexts} contexts: the candidate's slot marginals lie outside "
        "the span of the logged slates; PI is biased there"
    )


def pseudo_weights_in_context(
    gram: np.ndarray, target_marginals: np.ndarray, slates: np.ndarray
) -> tuple[np.ndarray, bool]:
    """One context's pseudo-weights ``q^T Gamma^+ 1_s`` of the logged ``slates`` (n, l) and
    whether ``q`` (``target_marginals``, (m, l)) lies in the span of the logging policy's
    slates. For contexts one at a time, where a ``(C, l m, l m)`` stack of Gram matrices
    would not fit in memory."""
    n_items, slots = np.shape(target_marginals)
    flat_q = np.asarray(target_marginals, dtype=float).T.reshape(-1)
    if np.shape(gram) != (flat_q.size, flat_q.size):
        raise ValueError(f"gram: must have shape {(flat_q.size, flat_q.size)}")
    projected = np.linalg.pinv(gram, hermitian=True) @ flat_q
    in_span = bool(np.abs(gram @ projected - flat_q).max() <= SPAN_TOLERANCE)
    slates = _slates("logged_slates", slates, n_items)
    weights = projected[np.arange(slots) * n_items + slates].sum(axis=1)
    return weights, in_span


def pseudo_inverse_from_weights(
    slate_rewards: object,
    pseudo_weights: object,
    *,
    user_ids: UserIds = None,
    notes: tuple[str, ...] = (),
    options: IntervalOptions | None = None,
    min_ess_fraction: float = 0.01,
) -> OffPolicyEstimate:
    """``V_PI = mean_i r_i w_i`` from pseudo-weights computed context by context
    (``pseudo_weights_in_context``), with its interval and diagnostics."""
    options = options or IntervalOptions()
    rewards = check_rewards(slate_rewards, "slate_rewards")
    if rewards.shape[1] != 1:
        raise ValueError("slate_rewards: one total reward per slate")
    weights = np.asarray(pseudo_weights, dtype=float)
    if weights.shape != (rewards.shape[0],) or not np.all(np.isfinite(weights)):
        raise ValueError("pseudo_weights: one finite weight per slate")
    users, n_users = user_index(user_ids, rewards.shape[0])
    numerators = rewards * weights[:, None]
    value, se, ci, method = result.interval(
        numerators, np.ones_like(numerators), users, n_users, options
    )
    ess, mean_weight, coverage_notes = coverage(weights[:, None], min_ess_fraction=min_ess_fraction)
    return OffPolicyEstimate(
        "PI", value, se, ci, method, rewards.shape[0], n_users, ess, mean_weight,
        tuple(notes) + coverage_notes,
    )  # fmt: skip
