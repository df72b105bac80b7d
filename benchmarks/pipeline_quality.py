"""Quality of the pipeline on ML-1M positives, in one run, next to ALS and most-popular.

1. Leave-last-out (CORE's protocol and ``evaluate``), k = 10: NDCG@10 of ``pipeline`` vs
   ``als`` (CORE's defaults) on the same split: target >= 1.15x. The pipeline's own
   two-tower retrieval alone, recall@500 on the same split: target >= 0.6.
2. Cold start, one more fit on a second training set where
   - a seeded 10% of the users (with >= 5 interactions) keep only their first 3
     interactions (by time); their 4th is the test item (``--cold-target last``: their
     latest one); HR@10 of the pipeline vs
     most-popular fitted on the same data: target >= 1.5x;
   - ``--hidden`` seeded items (20-500 interactions) lose all their interactions; each is
     then in the catalogue with its attributes only (placed by the item tower). For every
     (user, hidden item) pair of the full data, is the item among that user's ~500
     candidates? Target: >= 20% of the pairs. The share found by the ANN source alone is
     printed next to it.

Prints one line with the figures, the targets and PASS/MISS.

    python benchmarks/pipeline_quality.py [--quick] [--epochs 3] [--data FILE]
        [--only cold] [--tune-sequence] [--tune-share 0.3]

``--quick``: 200 users, 1 epoch, 5 hidden items (a smoke run; its figures mean little).
``--only cold``: part 2 only (one fit, a couple of minutes).
``--tune-sequence``: before part 2, simulate cold users among the *training* users (a
seeded 10% of those with >= 5 interactions keep their first 3, the 4th is the target),
fit on that, and print HR@10 for each combination of the short-history weights
(``sequence_weight``, ``early_cooccurrence_weight``, ``demographic_weight``,
``early_trend_weight``) of the grid: how the pipeline's default weights were chosen,
without looking at the evaluated users. ``--tune-share 0.3``: 30% of them instead (more
simulated users, less noise; the defaults were chosen so).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from _pipeline_support import load_ml1m, ml1m_ratings_path, verdict

from recommenders.core.base import InteractionData
from recommenders.core.evaluation import evaluate, leave_last_out, select_entries
from recommenders.core.pipeline.recommender import SHORT_HISTORY_WEIGHTS
from recommenders.core.pipeline.recommender.serving import rank_inputs  # noqa: E402
from recommenders.core.registry import create_model
from recommenders.core.rules import Rules


def cold_start_data(
    data: InteractionData,
    n_hidden: int,
    known: int,
    seed: int,
    target: str = "next",
    cold_share: float = 0.1,
):
    """(training data, cold users, their test items, hidden items); the test item is the
    interaction after the ``known`` first ones (``next``) or the latest one (``last``);
    ``cold_share`` of the users with enough interactions are cold."""
    rng = np.random.default_rng(seed)
    m = data.matrix
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    counts = np.bincount(m.indices, minlength=data.n_items)
    eligible = np.flatnonzero((counts >= 20) & (counts <= 500))
    hidden = np.sort(rng.choice(eligible, min(n_hidden, len(eligible)), replace=False))
    keep = ~np.isin(m.indices, hidden)
    times = data.timestamps.data if data.timestamps is not None else np.zeros(m.nnz)
    sequence = data.sequence.data if data.sequence is not None else np.arange(m.nnz)
    order = np.lexsort((sequence, times, rows))
    order = order[keep[order]]
    position = np.empty(m.nnz, dtype=np.int64)
    starts = np.searchsorted(rows[order], np.arange(m.shape[0]))
    position[order] = np.arange(len(order)) - starts[rows[order]]
    remaining = np.bincount(rows[keep], minlength=data.n_users)
    candidates = np.flatnonzero(remaining >= known + 2)
    n_cold = max(1, int(round(len(candidates) * cold_share, 6)))
    cold = np.sort(rng.choice(candidates, n_cold, replace=False))
    is_cold = np.isin(rows, cold)
    targets = np.full(data.n_users, -1, dtype=np.int64)
    target_position = known if target == "next" else remaining[rows] - 1
    target_entries = keep & is_cold & (position == target_position)
    targets[rows[target_entries]] = m.indices[target_entries]
    keep &= ~is_cold | (position < known)
    return select_entries(data, keep), cold, targets[cold], hidden


def hit_rate(lists: list[list[int]], targets: np.ndarray) -> float:
    return float(np.mean([t in row for row, t in zip(lists, targets, strict=True)]))


def hidden_item_reach(model, data: InteractionData, hidden: np.ndarray, seed: int, limit: int):
    """Share of (user, hidden item) pairs with the item among the user's candidates; and
    among the ANN source's items alone."""
    pairs = data.matrix[:, hidden].tocoo()
    users, items = pairs.row, hidden[pairs.col]
    if len(users) > limit:
        chosen = np.random.default_rng(seed).choice(len(users), limit, replace=False)
        users, items = users[chosen], items[chosen]
    rules = Rules()
    found = ann_found = 0
    quota = {"ann": 300, **model.params["quotas"]}["ann"]
    for user, item in zip(users, items, strict=True):
        state = model.user_state(int(user))
        candidates, _ = rank_inputs(model.state, state, rules)
        found += int(item in candidates.items)
        _, ann_items = model.state.tower.retrieve(state.vector, quota, state.exclude)
        ann_found += int(item in ann_items)
    return found / max(len(users), 1), ann_found / max(len(users), 1), len(users)


SEQUENCE_WEIGHTS = (0.0, 0.5, 1.0)
EARLY_COOCCURRENCE_WEIGHTS = (0.0, 1.0, 2.0)
DEMOGRAPHIC_WEIGHTS = (0.0, 1.0)
EARLY_TREND_WEIGHTS = (0.0, 0.5, 1.0)


def cold_hit_rates(model, popular, users: np.ndarray, targets: np.ndarray):
    """HR@10 of ``model`` (through ``recommend_one``) and of ``popular`` on the users."""
    lists = [[i for i, _, _ in model.recommend_one(int(u), 10)] for u in users]
    popular_lists = popular.recommend(users, 10).item_indices.tolist()
    return hit_rate(lists, targets), hit_rate(popular_lists, targets)


def tune_short_history_weights(
    train: InteractionData, params: dict, seed: int, share: float
) -> None:
    """HR@10 per combination of the short-history weights (``SHORT_HISTORY_WEIGHTS``) on
    cold users simulated among the training users (``share`` of those with >= 5
    interactions)."""
    fit_data, users, targets, _ = cold_start_data(train, 0, 3, seed + 1, "next", share)
    model = create_model("pipeline", **params).fit(fit_data)
    popular = create_model("popular").fit(fit_data)
    figures = []
    grid = itertools.product(
        SEQUENCE_WEIGHTS, EARLY_COOCCURRENCE_WEIGHTS, DEMOGRAPHIC_WEIGHTS, EARLY_TREND_WEIGHTS
    )
    for weights in grid:
        model.params.update(zip(SHORT_HISTORY_WEIGHTS, weights, strict=True))
        hr, hr_popular = cold_hit_rates(model, popular, users, targets)
        ratio = hr / max(hr_popular, 1e-12)
        figures.append(f"{weights}: {hr:.4f} ({ratio:.2f}x)")
    print(
        f"({', '.join(SHORT_HISTORY_WEIGHTS)}) on "
        f"{len(users)} simulated cold training users (popular {hr_popular:.4f}): "
        + ", ".join(figures)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cold-target", choices=("next", "last"), default="next")
    parser.add_argument("--only", choices=("cold",), default=None)
    parser.add_argument("--tune-sequence", action="store_true")
    parser.add_argument("--tune-share", type=float, default=0.1)
    args = parser.parse_args()
    epochs = args.epochs or (1 if args.quick else 3)
    n_hidden = args.hidden or (5 if args.quick else 40)
    started = time.perf_counter()
    data = load_ml1m(ml1m_ratings_path(args.data), 200 if args.quick else None, args.seed)
    params = {
        "two_tower": {"epochs": epochs, "seed": args.seed},
        "seed": args.seed,
        "ranker_users": 200 if args.quick else 6000,
    }
    head = ""
    if args.only is None:
        split = leave_last_out(data)
        als = evaluate(create_model("als"), split, 10)
        pipeline = create_model("pipeline", **params)
        result = evaluate(pipeline, split, 10)
        tower_recall = evaluate(pipeline.state.tower, split, 500, fit=False).recall
        ratio = result.ndcg / max(als.ndcg, 1e-12)
        head = (
            f"NDCG@10 pipeline {result.ndcg:.4f} vs ALS "
            f"{als.ndcg:.4f} = {ratio:.2f}x (target >= 1.15x) {verdict(ratio >= 1.15)}; "
            f"HR@10 pipeline {result.hr:.4f} vs ALS {als.hr:.4f}; "
            f"two-tower recall@500 {tower_recall:.3f} (target >= 0.6) "
            f"{verdict(tower_recall >= 0.6)}; "
        )

    train, cold, targets, hidden = cold_start_data(data, n_hidden, 3, args.seed, args.cold_target)
    if args.tune_sequence:
        tune_short_history_weights(train, params, args.seed, args.tune_share)
    cold_model = create_model("pipeline", **params).fit(train)
    popular = create_model("popular").fit(train)
    hr_pipeline, hr_popular = cold_hit_rates(cold_model, popular, cold, targets)
    cold_ratio = hr_pipeline / max(hr_popular, 1e-12)
    reach, ann_reach, n_pairs = hidden_item_reach(cold_model, data, hidden, args.seed, 3000)
    fit_seconds = cold_model.fit_seconds if args.only else result.fit_seconds

    print(
        f"pipeline_quality ML-1M positives ({data.n_users} users, {data.n_items} items, "
        f"two-tower epochs <= {epochs}): {head}"
        f"cold users with 3 known ({len(cold)} users, {args.cold_target} item) "
        f"HR@10 pipeline {hr_pipeline:.4f} vs "
        f"popular {hr_popular:.4f} = {cold_ratio:.2f}x (target >= 1.5x) "
        f"{verdict(cold_ratio >= 1.5)}; "
        f"hidden items ({len(hidden)} items, {n_pairs} user pairs) in candidates "
        f"{reach:.3f} (target >= 0.2) {verdict(reach >= 0.2)} [ANN source alone "
        f"{ann_reach:.3f}]; pipeline fit {fit_seconds:.0f} s, "
        f"total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
