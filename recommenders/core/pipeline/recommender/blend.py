"""The short-history blend: the ranker's scores, and for a short history a product of experts.

Plain functions over a :class:`.state.FittedPipeline`. The ranker is trained on users with long
histories, and for a user known by a few items its softmax is a weak guess; so users with
a short history (at most ``sequence_max_history`` items) have a final score that is a
product of experts: the ranker's softmax over the candidates, the next-item chain's
probability and the early co-occurrence's (:mod:`sequence`), the demographic lift
(:mod:`cold_start`, when demographics are known) and the early-trend lift at the request
time t (what users picked early in their histories shortly before t,
:class:`sequence.EarlyTrend`)::

    score_j = log softmax(f)_j + w_s log p_next(j | h) + w_e log p_early(j | h)
              + w_d [log p(j | a) - log p(j)] + w_t [log p_j(t) - log q_j]

with w_s = ``sequence_weight``, w_e = ``early_cooccurrence_weight``, w_d =
``demographic_weight``, w_t = ``early_trend_weight``. The weights were chosen on
simulated cold users drawn from training users only (first 3 interactions kept, the 4th
the target: ``benchmarks/pipeline_quality.py --only cold --tune-sequence --tune-share
0.3``), never on the evaluated users.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommenders.core.pipeline.candidates import Candidates, UserState
from recommenders.core.pipeline.features import next_at
from recommenders.core.pipeline.recommender.state import FittedPipeline
from recommenders.core.pipeline.sequence import EarlyCooccurrence, NextItemModel

# the weights of the short-history product of experts (module doc), in expert order
SHORT_HISTORY_WEIGHTS = (
    "sequence_weight",
    "early_cooccurrence_weight",
    "demographic_weight",
    "early_trend_weight",
)


def next_scores(
    next_items: NextItemModel, user: UserState, feature: bool = False
) -> np.ndarray | None:
    """The next-item chain's p(j | history) for a user with a history (``feature``: also
    the prior for one without), else None."""
    if next_items.n_items == 0 or (len(user.history) == 0 and not feature):
        return None
    return next_items.scores(user.history)


def early_scores(early_cooccurrence: EarlyCooccurrence, user: UserState) -> np.ndarray | None:
    """The early co-occurrence's p(j | history) over the tracked items, or None for a
    model saved before it existed."""
    if early_cooccurrence.n_items == 0:
        return None
    return early_cooccurrence.scores(user.history)


def blend_weights(params: dict[str, Any], user: UserState) -> tuple[float, ...]:
    """The weights of :data:`SHORT_HISTORY_WEIGHTS` for a short history, else zeros."""
    short = 0 < len(user.history) <= params["sequence_max_history"]
    return tuple(float(params[name]) if short else 0.0 for name in SHORT_HISTORY_WEIGHTS)


def final_scores(
    fitted: FittedPipeline, user: UserState, candidates: Candidates, features: np.ndarray
) -> np.ndarray:
    """Ranker scores; for a short history the product of experts of the module doc."""
    scores = fitted.ranker.predict(features)
    weights = blend_weights(fitted.params, user)
    if max(weights) <= 0 or len(scores) == 0:
        return scores
    shifted = scores - scores.max()
    blended = shifted - np.log(np.exp(shifted).sum())
    experts = short_history_experts(fitted, user, candidates)
    for weight, log_p in zip(weights, experts, strict=True):
        if weight > 0 and log_p is not None:
            blended += weight * log_p
    return blended.astype(np.float32)


def short_history_experts(
    fitted: FittedPipeline, user: UserState, candidates: Candidates
) -> list[np.ndarray | None]:
    """log p(next), log p_early, the demographic log-lift and the early-trend log-lift at
    the candidates (None where the model or the user lacks it), in the order of
    :data:`SHORT_HISTORY_WEIGHTS`."""
    items = candidates.items
    early = early_scores(fitted.early_cooccurrence, user)
    demographic = None
    if fitted.demographic.knows(user.attr_codes):
        demographic = fitted.demographic.scores(user.attr_codes) - fitted.demographic.log_prior
    trend = None
    if fitted.early_trend.n_items and user.reference_ts > 0:
        trend = fitted.early_trend.log_lift(user.reference_ts)
    return [
        np.log(next_at(next_scores(fitted.next_items, user), items)),
        None if early is None else np.log(next_at(early, items)),
        None if demographic is None else _at(demographic, items),
        None if trend is None else _at(trend, items),
    ]


def _at(values: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``values`` at ``items``, 0 for items beyond the tracked ones (added after fitting)."""
    tracked = items < len(values)
    return np.where(tracked, values[np.where(tracked, items, 0)], 0.0)
