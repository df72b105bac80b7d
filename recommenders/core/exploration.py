"""Exploration with known propensities: sample the final top-k list instead of sorting it.

Two samplers, each with the exact probabilities that off-policy evaluation needs:

- Plackett-Luce over the ranker's scores with temperature ``T`` (Plackett 1975; Luce 1959):
  among the ``pool`` best-scored candidates, weights ``w_i = exp(s_i / T)``; position ``j``
  draws item ``i`` from the items not yet placed with probability
  ``w_i / sum_{l not placed} w_l``. Sampled exactly by the Gumbel-top-k trick (Kool, van Hoof
  and Welling 2019). The list's probability is the product of these step probabilities.
  The *marginal* probability that item ``i`` lands at position ``j`` (what item-position
  estimators divide by) follows from the exponential-race form of Plackett-Luce: item ``i``
  arrives at ``E_i ~ Exp(w_i)`` and the list is the arrival order, so
  ``P(i at j) = int_0^inf w_i exp(-w_i t) PB_{j-1}^{(-i)}(t) dt`` with ``PB^{(-i)}`` the
  Poisson-binomial law of how many other items arrived by ``t`` (``p_l = 1 - exp(-w_l t)``).
  The integral is taken by the trapezoid rule in ``log t``, which converges geometrically for
  this analytic integrand; tests hold it to 1e-9 against enumeration of every list.
- Epsilon-greedy swaps: the sorted top-k, except that with probability ``epsilon`` one
  adjacent pair ``(j, j+1)``, drawn uniformly among the ``k - 1``, is swapped. Marginals are
  closed-form: ``P(rank r at r) = 1 - epsilon * (edges touching r) / (k - 1)``,
  ``P(rank r at r +- 1) = epsilon / (k - 1)``.

The cost of exploring: with relevance estimates ``rel_i`` and a position-based examination
curve ``theta_j``, a policy with marginals ``M`` earns ``sum_ij M_ij rel_i theta_j`` expected
clicks per list; the cost is what greedy sorting earns minus that (Joachims, Swaminathan and
Schnabel 2017, "Unbiased learning-to-rank with biased feedback", for the position model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_MARGINAL_POOL = 500
_LOG_STEP = 0.2  # trapezoid step in log t; error ~ exp(-pi^2 / step) for this integrand


@dataclass(frozen=True)
class ExploredList:
    """A sampled top-k list: ``indices`` into the score vector, best position first;
    ``step_propensities[j]`` the probability of drawing ``indices[j]`` at position ``j`` given
    the positions before it (Plackett-Luce) or its marginal probability there (swaps);
    ``list_probability`` the probability of the whole list."""

    indices: np.ndarray
    step_propensities: np.ndarray
    list_probability: float


def _check_scores(scores: object, k: object) -> tuple[np.ndarray, int]:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("scores: must be a non-empty 1-d array")
    if not np.isfinite(array).all():
        raise ValueError("scores: must be finite")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: must be a whole number >= 1, got {k!r}")
    return array, min(int(k), array.size)


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: must be a numpy Generator, got {type(rng).__name__}")
    return rng


def _check_temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise ValueError(f"temperature: must be a number, got {temperature!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature: must be finite and greater than 0, got {temperature}")
    return float(temperature)


def _pool(scores: np.ndarray, pool: int | None, ordered: bool = True) -> np.ndarray:
    """Indices of the ``pool`` best scores (all without a pool), best first when
    ``ordered`` (sampling needs no order: it saves a sort on the serving path)."""
    if pool is None or pool >= scores.size:
        return np.argsort(-scores, kind="stable") if ordered else np.arange(scores.size)
    if isinstance(pool, bool) or not isinstance(pool, int | np.integer) or pool < 1:
        raise ValueError(f"pool: must be a whole number >= 1, got {pool!r}")
    top = np.argpartition(scores, scores.size - pool)[scores.size - pool :]
    return top[np.argsort(-scores[top], kind="stable")] if ordered else top


def _weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    logits = scores / temperature
    return np.exp(logits - logits.max())


def plackett_luce_sample(
    scores: np.ndarray,
    k: int,
    *,
    temperature: float,
    rng: np.random.Generator,
    pool: int | None = None,
) -> ExploredList:
    """One Plackett-Luce draw of a top-``k`` list from the ``pool`` best ``scores``."""
    scores, k = _check_scores(scores, k)
    temperature = _check_temperature(temperature)
    rng = _check_rng(rng)
    candidates = _pool(scores, pool, ordered=False)
    k = min(k, candidates.size)
    logits = scores[candidates] / temperature
    keys = logits + rng.gumbel(size=candidates.size)
    order = np.argpartition(-keys, k - 1)[:k] if k < candidates.size else np.arange(k)
    order = order[np.argsort(-keys[order], kind="stable")]
    # In log space, and without subtracting from the total: at a low temperature the first
    # weight dwarfs the rest and ``total - chosen`` would cancel to 0 (infinite propensities).
    chosen = logits[order]
    remaining = np.logaddexp.accumulate(chosen[::-1])[::-1]
    if k < candidates.size:
        unchosen = np.ones(candidates.size, dtype=bool)
        unchosen[order] = False
        rest = logits[unchosen]
        top = rest.max()
        remaining = np.logaddexp(remaining, top + math.log(np.exp(rest - top).sum()))
    log_steps = chosen - remaining
    return ExploredList(candidates[order], np.exp(log_steps), math.exp(log_steps.sum()))


def plackett_luce_draws(
    scores: np.ndarray,
    k: int,
    *,
    temperature: float,
    rng: np.random.Generator,
    pool: int | None = None,
) -> np.ndarray:
    """One Plackett-Luce top-``k`` draw per row of ``scores`` (rows, items), vectorised:
    the same lists, from the same generator, as ``plackett_luce_sample`` called row by row
    (the pool taken the same way, the Gumbel noise drawn in the same sequence). For
    simulations and Monte Carlo estimates, where one call per list is too slow."""
    array = np.asarray(scores, dtype=float)
    if array.ndim != 2 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError("scores: must be a finite non-empty 2-d array (rows, items)")
    _check_scores(array[0], k)
    temperature = _check_temperature(temperature)
    rng = _check_rng(rng)
    size = array.shape[1]
    if pool is None or pool >= size:
        candidates = np.broadcast_to(np.arange(size), array.shape)
    else:
        _pool(array[0], pool)  # checks ``pool``
        candidates = np.argpartition(array, size - pool, axis=1)[:, size - pool :]
    k = min(int(k), candidates.shape[1])
    keys = np.take_along_axis(array, candidates, axis=1) / temperature
    keys = keys + rng.gumbel(size=candidates.shape)
    top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, np.take_along_axis(top, order, axis=1), axis=1)


def _poisson_binomial_prefixes(p: np.ndarray, k: int) -> np.ndarray:
    """``out[l, t, m]``: P(exactly m of items 0..l-1 arrived by node t), m < k."""
    n, nodes = p.shape
    out = np.zeros((n + 1, nodes, k))
    out[0, :, 0] = 1.0
    for item in range(n):
        out[item + 1] = out[item] * (1 - p[item])[:, None]
        out[item + 1, :, 1:] += out[item, :, :-1] * p[item][:, None]
    return out


def plackett_luce_marginals(
    scores: np.ndarray, k: int, *, temperature: float, pool: int | None = None
) -> np.ndarray:
    """``M[i, j]``: probability that ``scores``' item ``i`` is drawn at position ``j`` by
    ``plackett_luce_sample`` (same ``k``, ``temperature``, ``pool``); zero outside the pool.
    Shape ``(len(scores), k)``; each column sums to 1."""
    scores, k = _check_scores(scores, k)
    temperature = _check_temperature(temperature)
    candidates = _pool(scores, pool)
    if candidates.size > MAX_MARGINAL_POOL:
        raise ValueError(f"pool: marginals are computed for at most {MAX_MARGINAL_POOL} items")
    k = min(k, candidates.size)
    w = _weights(scores[candidates], temperature)  # sorted, w[0] == 1
    n = w.size
    if w[min(k, n - 1)] < 1e-250:  # exp of a logit gap above 575: the race never ends
        raise ValueError(
            f"temperature: {temperature} is too low for these scores (weights underflow); "
            "such a policy is greedy: use greedy_marginals"
        )
    t_min = 1e-13 / w.sum()
    t_max = 45.0 / w[min(k, n - 1)]
    log_t = np.arange(math.log(t_min), math.log(t_max) + _LOG_STEP, _LOG_STEP)
    t = np.exp(log_t)
    arrived = -np.expm1(-np.outer(w, t))  # (n, nodes)
    prefix = _poisson_binomial_prefixes(arrived, k)
    suffix = _poisson_binomial_prefixes(arrived[::-1], k)[::-1]
    marginals = np.zeros((scores.size, k))
    for i in range(n):
        before, after = prefix[i], suffix[i + 1]  # items < i, items > i
        others = np.zeros_like(before)
        for m in range(k):
            others[:, m] = np.einsum("ta,ta->t", before[:, : m + 1], after[:, m::-1])
        density = w[i] * np.exp(-w[i] * t) * t * _LOG_STEP  # dt = t d(log t)
        marginals[candidates[i]] = density @ others
    return marginals


def epsilon_swap_sample(
    scores: np.ndarray, k: int, *, epsilon: float, rng: np.random.Generator
) -> ExploredList:
    """The sorted top-``k``, one uniformly drawn adjacent pair swapped with probability
    ``epsilon``; ``step_propensities`` are the exact marginals of each item at its position."""
    scores, k = _check_scores(scores, k)
    epsilon = _check_epsilon(epsilon)
    rng = _check_rng(rng)
    order = _pool(scores, k)
    indices = order.copy()
    if k > 1 and rng.random() < epsilon:
        j = int(rng.integers(k - 1))
        indices[j], indices[j + 1] = indices[j + 1], indices[j]
    ranks = {int(item): rank for rank, item in enumerate(order)}
    marginals = _swap_matrix(k, epsilon)
    steps = np.array([marginals[ranks[int(item)], pos] for pos, item in enumerate(indices)])
    swapped = not np.array_equal(indices, order)
    probability = epsilon / (k - 1) if swapped else 1 - epsilon if k > 1 else 1.0
    return ExploredList(indices, steps, float(probability))


def _check_epsilon(epsilon: object) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise ValueError(f"epsilon: must be a number, got {epsilon!r}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon: must lie in [0, 1], got {epsilon}")
    return float(epsilon)


def _swap_matrix(k: int, epsilon: float) -> np.ndarray:
    """``S[r, j]``: probability that the item ranked ``r`` is shown at position ``j``."""
    if k == 1:
        return np.ones((1, 1))
    each = epsilon / (k - 1)
    matrix = np.zeros((k, k))
    for j in range(k - 1):
        matrix[j, j + 1] = matrix[j + 1, j] = each
    np.fill_diagonal(matrix, 1 - matrix.sum(axis=1))
    return matrix


def epsilon_swap_marginals(scores: np.ndarray, k: int, *, epsilon: float) -> np.ndarray:
    """``M[i, j]`` for ``epsilon_swap_sample``; shape ``(len(scores), k)``."""
    scores, k = _check_scores(scores, k)
    epsilon = _check_epsilon(epsilon)
    marginals = np.zeros((scores.size, k))
    marginals[_pool(scores, k)] = _swap_matrix(k, epsilon)
    return marginals


def greedy_marginals(scores: np.ndarray, k: int) -> np.ndarray:
    """The deterministic sorted top-``k`` as marginals: one 1 per position."""
    scores, k = _check_scores(scores, k)
    marginals = np.zeros((scores.size, k))
    marginals[_pool(scores, k), np.arange(k)] = 1.0
    return marginals


@dataclass(frozen=True)
class ExplorationCost:
    """Expected clicks per list of greedy sorting and of the exploring policy, and the loss
    ``greedy - exploring`` (absolute and relative to greedy)."""

    greedy_clicks: float
    exploring_clicks: float
    loss: float
    relative_loss: float

    def within(self, budget: float) -> bool:
        """Whether the absolute loss is at most ``budget`` expected clicks per list."""
        return self.loss <= budget


def expected_clicks(marginals: np.ndarray, relevance: np.ndarray, examination: np.ndarray) -> float:
    """``sum_ij M_ij rel_i theta_j``: expected clicks per list in the position-based model."""
    marginals = np.asarray(marginals, dtype=float)
    relevance = np.asarray(relevance, dtype=float)
    examination = np.asarray(examination, dtype=float)
    if relevance.shape != (marginals.shape[0],):
        raise ValueError("relevance: one estimate per item of the marginals is required")
    if examination.shape != (marginals.shape[1],):
        raise ValueError("examination: one probability per position is required")
    if np.any(~((relevance >= 0) & (relevance <= 1))):
        raise ValueError("relevance: probabilities must lie in [0, 1]")
    if np.any(~((examination >= 0) & (examination <= 1))):
        raise ValueError("examination: probabilities must lie in [0, 1]")
    return float(relevance @ marginals @ examination)


def exploration_cost(
    scores: np.ndarray, marginals: np.ndarray, relevance: np.ndarray, examination: np.ndarray
) -> ExplorationCost:
    """Loss of the policy with ``marginals`` against sorting ``scores``, in expected clicks per
    list under relevance estimates and an examination curve (module docstring)."""
    marginals = np.asarray(marginals, dtype=float)
    greedy = expected_clicks(greedy_marginals(scores, marginals.shape[1]), relevance, examination)
    exploring = expected_clicks(marginals, relevance, examination)
    loss = greedy - exploring
    return ExplorationCost(greedy, exploring, loss, loss / greedy if greedy > 0 else 0.0)
