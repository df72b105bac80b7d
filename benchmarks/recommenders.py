"""Our ALS and item-CF next to ``implicit`` 0.7.3 on MovieLens positives, same run.

Both libraries get the same training matrix (leave-last-out train part of ML-1M ratings
>= 4), the same hyperparameters and the same thread count (torch threads for ours,
``num_threads`` for implicit, BLAS pools limited alike). ALS: 64 factors, 15 iterations,
confidence c = 1 + alpha r for both (implicit is given the matrix 1 + alpha R, its
convention being c = alpha r). Item-CF: BM25 (K1 1.2, B 0.75), 100 neighbours (implicit
K = 101, as it keeps each item as its own neighbour). Fit times are medians of
``--repeats`` interleaved runs. Batch recommendation: top-10 for every user from the
fitted ALS, seen items excluded. Prints one line with figures, targets and PASS/MISS:
ALS fit <= 1.5x implicit's, item-CF build <= 2x, batch recommendation <= 2 s.

    python benchmarks/recommenders.py [--quick] [--threads 2] [--repeats 3] [--data DIR]

``--quick`` uses MovieLens 100K (ratings >= 4) and one repeat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from recommenders.core.datasets import load_dataset  # noqa: E402
from recommenders.core.evaluation import evaluate, leave_last_out, ranking_metrics  # noqa: E402
from recommenders.core.registry import create_model  # noqa: E402

ALS_PARAMS = {"factors": 64, "iterations": 15, "regularization": 1.0, "alpha": 1.0}
NEIGHBOURS, K = 100, 10


def _timed(fit) -> float:
    started = time.perf_counter()
    fit()
    return time.perf_counter() - started


def _implicit_metrics(model, train, split) -> tuple[float, float]:
    users = split.test_users
    ids, _ = model.recommend(users, train[users], N=K, filter_already_liked_items=True)
    got = ranking_metrics(np.asarray(ids), split.test[users])
    return got["hr"], got["ndcg"]


def run(data_path: Path, threads: int, repeats: int, label: str) -> str:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender
    from threadpoolctl import threadpool_limits

    data = load_dataset(data_path, min_value=4, binary=True)
    split = leave_last_out(data)
    train = split.train.matrix.tocsr().astype(np.float32)
    confidence = train.copy()
    confidence.data = 1.0 + ALS_PARAMS["alpha"] * confidence.data

    ours_als = create_model("als", num_threads=threads, **ALS_PARAMS)
    ours_cf = create_model("item_cf", similarity="bm25", neighbours=NEIGHBOURS, num_threads=threads)
    theirs_als = theirs_cf = None
    times: dict[str, list[float]] = {"als": [], "implicit_als": [], "cf": [], "implicit_cf": []}
    with threadpool_limits(limits=threads):
        create_model("als", iterations=1, num_threads=threads).fit(split.train)  # load torch
        for _ in range(repeats):
            times["als"].append(_timed(lambda: ours_als.fit(split.train)))
            theirs_als = AlternatingLeastSquares(
                factors=ALS_PARAMS["factors"], iterations=ALS_PARAMS["iterations"],
                regularization=ALS_PARAMS["regularization"], alpha=1.0,
                num_threads=threads, random_state=0,
            )  # fmt: skip
            times["implicit_als"].append(
                _timed(lambda m=theirs_als: m.fit(confidence, show_progress=False))
            )
            times["cf"].append(_timed(lambda: ours_cf.fit(split.train)))
            theirs_cf = BM25Recommender(K=NEIGHBOURS + 1, K1=1.2, B=0.75, num_threads=threads)
            times["implicit_cf"].append(
                _timed(lambda m=theirs_cf: m.fit(train, show_progress=False))
            )
        all_users = np.arange(data.n_users)
        batch_seconds = statistics.median(
            _timed(lambda: ours_als.recommend(all_users, K)) for _ in range(max(repeats, 3))
        )
        als_eval = evaluate(ours_als, split, K, fit=False)
        cf_eval = evaluate(ours_cf, split, K, fit=False)
        implicit_als_hr, implicit_als_ndcg = _implicit_metrics(theirs_als, train, split)
        implicit_cf_hr, implicit_cf_ndcg = _implicit_metrics(theirs_cf, train, split)

    med = {name: statistics.median(values) for name, values in times.items()}
    als_ratio = med["als"] / med["implicit_als"]
    cf_ratio = med["cf"] / med["implicit_cf"]
    verdict = {True: "PASS", False: "MISS"}
    return (
        f"recommenders {label} ({data.n_users} users, {data.n_items} items, {threads} threads, "
        f"median of {repeats}): ALS fit {med['als']:.2f} s vs implicit {med['implicit_als']:.2f} s "
        f"= {als_ratio:.2f}x (target <= 1.5x) {verdict[als_ratio <= 1.5]}; "
        f"item-CF build {med['cf']:.2f} s vs implicit {med['implicit_cf']:.2f} s "
        f"= {cf_ratio:.2f}x (target <= 2x) {verdict[cf_ratio <= 2.0]}; "
        f"batch top-{K} for all users {batch_seconds:.2f} s (target <= 2 s) "
        f"{verdict[batch_seconds <= 2.0]}; HR@10/NDCG@10 ALS ours {als_eval.hr:.4f}/"
        f"{als_eval.ndcg:.4f} implicit {implicit_als_hr:.4f}/{implicit_als_ndcg:.4f}, "
        f"item-CF ours {cf_eval.hr:.4f}/{cf_eval.ndcg:.4f} "
        f"implicit {implicit_cf_hr:.4f}/{implicit_cf_ndcg:.4f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MovieLens 100K, one repeat")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=None)
    default_data = os.environ.get("SPLITLAB_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default_data))
    args = parser.parse_args()
    if args.quick:
        path, label, repeats = args.data / "ml-100k", "ML-100K positives", args.repeats or 1
    else:
        path = args.data / "ml-1m" / "ratings_ge4_complete.dat"
        label, repeats = "ML-1M positives", args.repeats or 3
    if not path.exists():
        print(f"recommenders: {path} not found, nothing measured", file=sys.stderr)
        return 2
    print(run(path, args.threads, repeats, label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
