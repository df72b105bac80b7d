"""Score any Recommender on a Split: the same code for every model of the interface."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from recommenders.core.base import Recommender
from recommenders.core.evaluation import metrics
from recommenders.core.evaluation.splits import Split


@dataclass
class EvaluationResult:
    """Metrics of one model on one split; ``as_dict()`` for JSON."""

    model: str
    protocol: str
    k: int
    n_users: int
    hr: float
    recall: float
    precision: float
    ndcg: float
    map: float
    coverage: float
    popularity_bias: float
    fallback_share: float
    fit_seconds: float | None
    recommend_seconds: float
    rmse: float | None = None
    mae: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def rating_errors(model: Recommender, split: Split) -> tuple[float, float]:
    """(RMSE, MAE) of ``model.predict`` on the held-out ratings of ``split``."""
    predict = getattr(model, "predict", None)
    if predict is None:
        raise ValueError(f"{model.name}: no rating prediction (predict) to score")
    test = split.test.tocoo()
    predicted = predict(test.row, test.col)
    return metrics.rmse(predicted, test.data), metrics.mae(predicted, test.data)


def evaluate(
    model: Recommender,
    split: Split,
    k: int = 10,
    *,
    fit: bool = True,
    batch_users: int = 4096,
) -> EvaluationResult:
    """Fit ``model`` on ``split.train`` (unless ``fit=False``: already fitted on it), rank
    all items not in each evaluated user's training set and compute the metrics of
    :mod:`metrics` at k. RMSE and MAE are added when the model predicts ratings."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if fit:
        model.fit(split.train)
    users = split.test_users
    started = time.perf_counter()
    lists, fallback = [], []
    for start in range(0, len(users), batch_users):
        recs = model.recommend(users[start : start + batch_users], k, exclude_seen=True)
        lists.append(recs.item_indices)
        fallback.append(
            recs.fallback if recs.fallback is not None else np.zeros(len(recs.item_indices), bool)
        )
    recommend_seconds = time.perf_counter() - started
    item_indices = np.concatenate(lists) if lists else np.zeros((0, k), np.int64)
    ranking = metrics.ranking_metrics(item_indices, split.test[users])
    popularity = np.asarray(split.train.matrix.getnnz(axis=0), dtype=np.float64)
    errors: tuple[float | None, float | None] = (None, None)
    if hasattr(model, "predict"):
        errors = rating_errors(model, split)
    return EvaluationResult(
        model=model.name,
        protocol=split.protocol,
        k=k,
        n_users=len(users),
        **ranking,
        coverage=metrics.catalogue_coverage(item_indices, split.train.n_items),
        popularity_bias=metrics.popularity_bias(item_indices, popularity),
        fallback_share=float(np.concatenate(fallback).mean()) if fallback else 0.0,
        fit_seconds=model.fit_seconds,
        recommend_seconds=recommend_seconds,
        rmse=errors[0],
        mae=errors[1],
    )
