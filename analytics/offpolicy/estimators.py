"""Direct method, IPS, self-normalised IPS and doubly robust, for single items and for top-k
lists under the item-position model.

With weights ``w_ij = pi_e(a_ij at j | x_i) / pi_0(a_ij at j | x_i)`` (the marginal
item-position propensities of ``logs.LoggedLists``), optionally clipped to ``min(w, clip)``,
and a reward model ``q(x, a, j)``:

- DM:    ``V = 1/n sum_i sum_j q_e(x_i, j)``, ``q_e(x, j) = sum_a pi_e(a at j | x) q(x, a, j)``
- IPS:   ``V = 1/n sum_i sum_j w_ij r_ij``
- SNIPS: ``V = sum_j (sum_i w_ij r_ij) / (sum_i w_ij)``
- DR:    ``V = 1/n sum_i sum_j [q_e(x_i, j) + w_ij (r_ij - q(x_i, a_ij, j))]``

With one position these are the standard estimators (Horvitz and Thompson 1952; Swaminathan
and Joachims 2015 for self-normalisation; Dudik, Langford and Li 2011 for DR) and equal Open
Bandit Pipeline's ``InverseProbabilityWeighting``, ``SelfNormalizedInverseProbabilityWeighting``
and ``DoublyRobust`` (``lambda_`` = ``clip``). With ``k`` positions IPS is the independent
item-position IPS (Li et al. 2018, "Offline evaluation of ranking policies with click
models"), OBP's ``SlateIndependentIPS``, SNIPS its self-normalised form normalised per position
as OBP's ``SelfNormalizedSlateIndependentIPS``. When clicks at a position depend only on
the item there (the position-based and item-position click models), IPS and DR are unbiased
and SNIPS is consistent (biased by O(1/n), with a smaller variance). OBP's
single-item estimators average over (list, position) rows; these sum over positions, so
they equal ``k`` times OBP's value for ``k`` positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.offpolicy.logs import (
    LoggedLists,
    check_matrix,
    check_rewards,
    importance_weights,
    user_index,
)
from analytics.offpolicy.result import IntervalOptions, OffPolicyEstimate, coverage, interval

UserIds = Sequence[object] | np.ndarray | None


def _single_item(rewards: object) -> bool:
    """Whether the log has one position per list (the estimator's name says which form)."""
    shape = np.shape(rewards)  # type: ignore[call-overload]
    return len(shape) < 2 or shape[1] == 1


def _finish(
    name: str,
    numerators: np.ndarray,
    denominators: np.ndarray,
    users: np.ndarray,
    n_users: int,
    options: IntervalOptions,
    raw_weights: np.ndarray | None,
    min_ess_fraction: float,
) -> OffPolicyEstimate:
    value, se, ci, method = interval(numerators, denominators, users, n_users, options)
    n = numerators.shape[0]
    ess, mean_weight = float(n), 1.0
    notes: tuple[str, ...] = ()
    if raw_weights is not None:
        ess, mean_weight, notes = coverage(raw_weights, min_ess_fraction=min_ess_fraction)
    return OffPolicyEstimate(name, value, se, ci, method, n, n_users, ess, mean_weight, notes)


def _weighted(
    name: str,
    rewards: object,
    logging_propensities: object,
    target_propensities: object,
    user_ids: UserIds,
    clip: float | None,
    options: IntervalOptions,
    min_ess_fraction: float,
    self_normalised: bool,
) -> OffPolicyEstimate:
    logs = LoggedLists.build(rewards, logging_propensities, target_propensities, user_ids)
    raw, w = importance_weights(logs, clip)
    if self_normalised:
        numerators, denominators = w * logs.rewards, w
    else:
        numerators = (w * logs.rewards).sum(axis=1, keepdims=True)
        denominators = np.ones_like(numerators)
    return _finish(
        name, numerators, denominators, logs.user_index, logs.n_users, options, raw,
        min_ess_fraction,
    )  # fmt: skip


def ips(
    rewards: object,
    logging_propensities: object,
    target_propensities: object,
    *,
    user_ids: UserIds = None,
    clip: float | None = None,
    interval: str = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    min_ess_fraction: float = 0.01,
) -> OffPolicyEstimate:
    """Inverse propensity scoring; with several positions, independent item-position IPS."""
    options = IntervalOptions(interval, alpha, n_bootstrap, seed)
    name = "IPS" if _single_item(rewards) else "IIPS"
    return _weighted(
        name, rewards, logging_propensities, target_propensities, user_ids, clip, options,
        min_ess_fraction, self_normalised=False,
    )  # fmt: skip


def snips(
    rewards: object,
    logging_propensities: object,
    target_propensities: object,
    *,
    user_ids: UserIds = None,
    clip: float | None = None,
    interval: str = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    min_ess_fraction: float = 0.01,
) -> OffPolicyEstimate:
    """Self-normalised IPS, normalised per position."""
    options = IntervalOptions(interval, alpha, n_bootstrap, seed)
    name = "SNIPS" if _single_item(rewards) else "SNIIPS"
    return _weighted(
        name, rewards, logging_propensities, target_propensities, user_ids, clip, options,
        min_ess_fraction, self_normalised=True,
    )  # fmt: skip


def direct_method(
    estimated_rewards_target: object,
    *,
    user_ids: UserIds = None,
    interval: str = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> OffPolicyEstimate:
    """The reward model's prediction for the candidate's lists. Needs no propensities; its
    interval covers the sampling of contexts only, never the model's own error."""
    options = IntervalOptions(interval, alpha, n_bootstrap, seed)
    predicted = check_rewards(estimated_rewards_target, "estimated_rewards_target")
    users, n_users = user_index(user_ids, predicted.shape[0])
    numerators = predicted.sum(axis=1, keepdims=True)
    return _finish("DM", numerators, np.ones_like(numerators), users, n_users, options, None, 0.0)


def doubly_robust(
    rewards: object,
    logging_propensities: object,
    target_propensities: object,
    estimated_rewards_logged: object,
    estimated_rewards_target: object,
    *,
    user_ids: UserIds = None,
    clip: float | None = None,
    interval: str = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
    min_ess_fraction: float = 0.01,
) -> OffPolicyEstimate:
    """Doubly robust: the direct method corrected by the weighted residuals of the logged
    items. ``estimated_rewards_logged[i, j] = q(x_i, a_ij, j)``;
    ``estimated_rewards_target[i, j] = sum_a pi_e(a at j | x_i) q(x_i, a, j)``."""
    options = IntervalOptions(interval, alpha, n_bootstrap, seed)
    logs = LoggedLists.build(rewards, logging_propensities, target_propensities, user_ids)
    shape = logs.rewards.shape
    q_logged = check_matrix("estimated_rewards_logged", estimated_rewards_logged, shape)
    q_target = check_matrix("estimated_rewards_target", estimated_rewards_target, shape)
    for name, array in (
        ("estimated_rewards_logged", q_logged),
        ("estimated_rewards_target", q_target),
    ):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: must be finite")
    raw, w = importance_weights(logs, clip)
    terms = (q_target + w * (logs.rewards - q_logged)).sum(axis=1, keepdims=True)
    return _finish(
        "DR", terms, np.ones_like(terms), logs.user_index, logs.n_users, options, raw,
        min_ess_fraction,
    )  # fmt: skip
