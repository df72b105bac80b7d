"""Offline evaluation: protocols (splits), metrics, and ``evaluate`` for any model.

Public API (stable names)::

    leave_last_out(data) -> Split
    temporal_split(data, test_fraction=0.2, cutoff_time=None) -> Split
    random_split(data, test_fraction=0.2, seed=0) -> Split
    kfold_splits(data, n_folds=5, seed=0) -> Iterator[Split]
    evaluate(model, split, k=10, *, fit=True) -> EvaluationResult   # .as_dict()
    rating_errors(model, split) -> (rmse, mae)
    PROTOCOLS: dict[str, callable]   # "leave-last-out", "temporal", "random"
"""

from recommenders.core.evaluation.evaluate import EvaluationResult, evaluate, rating_errors
from recommenders.core.evaluation.metrics import (
    catalogue_coverage,
    hit_matrix,
    mae,
    popularity_bias,
    ranking_metrics,
    rmse,
)
from recommenders.core.evaluation.splits import (
    Split,
    kfold_splits,
    leave_last_out,
    random_split,
    select_entries,
    temporal_split,
)

PROTOCOLS = {
    "leave-last-out": leave_last_out,
    "temporal": temporal_split,
    "random": random_split,
}

__all__ = [
    "PROTOCOLS",
    "EvaluationResult",
    "Split",
    "catalogue_coverage",
    "evaluate",
    "hit_matrix",
    "kfold_splits",
    "leave_last_out",
    "mae",
    "popularity_bias",
    "random_split",
    "ranking_metrics",
    "rating_errors",
    "select_entries",
    "rmse",
    "temporal_split",
]
