"""Reads for exploration: the expected cost of a configuration's exploration policy.

The cost is :func:`recommenders.core.served_exploration.expected_cost` averaged over the
active version's precomputed lists (its popular list and up to ``SAMPLE_LISTS`` users' top-N,
the ranked pools the serving path would draw from), with relevance calibrated to the
version's offline ``precision`` (at its evaluation ``k``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommenders.core.served_exploration import expected_cost
from recommenders.models import ModelVersion, PrecomputedList, RecommenderConfig

SAMPLE_LISTS = 50


@dataclass(frozen=True)
class ExplorationCostEstimate:
    """Expected loss in CTR per impression, the budget, and what it was computed from."""

    loss_ctr: float
    budget_ctr: float
    n_lists: int
    version_id: int

    @property
    def within_budget(self) -> bool:
        return self.loss_ctr <= self.budget_ctr


def exploration_cost_estimate(config: RecommenderConfig) -> ExplorationCostEstimate | None:
    """The estimate for ``config``'s settings, or None where it cannot be computed (no active
    version, no offline precision, no precomputed lists, or settings out of range)."""
    try:
        settings = config.exploration_settings()
    except ValueError:
        return None
    active = config.versions.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is None or not isinstance(active.metrics.get("precision"), int | float):
        return None
    k = int(active.metrics.get("k") or config.evaluation_k)
    pools = PrecomputedList.objects.filter(model_version=active).values_list("scores", flat=True)
    precision = float(active.metrics["precision"])
    losses = [
        expected_cost(np.asarray(scores, dtype=float), k, settings, precision)
        for scores in pools[:SAMPLE_LISTS]
        if len(scores) >= 2 and np.all(np.isfinite(np.asarray(scores, dtype=float)))
    ]
    if not losses:
        return None
    return ExplorationCostEstimate(
        float(np.mean(losses)), float(config.exploration_budget), len(losses), active.pk
    )
