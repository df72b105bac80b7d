"""Serving latency with exploration on against off, in process, on ML-1M.

The two calls of the serving worker's path (``recommenders.serving.worker``): the model's
``recommend_one`` (ranking, then the business rules) for the list length, or for the
exploration pool, then the exploration step
(``recommenders.core.served_exploration.explore_served``). Off: ``recommend_one(k=10)`` and
the sorted list with propensity 1; Plackett-Luce: ``recommend_one(k=50)`` and a draw of 10
from the pool, seeded by the request id; epsilon-greedy: ``recommend_one(k=10)`` and one
possible swap. Requests alternate between the policies so that machine load falls on all of
them alike. Model: item-based CF (the algorithm with the cheapest fit on two cores); the
profile lookup of cold users (a database read) is the same with and without exploration and
is left out.

Line: ``p99 exploring / p99 sorted`` per policy (target <= 1.2).

    python benchmarks/exploration_serving.py [--quick] [--requests N] [--data FILE]

``--quick``: 300 users, 300 requests per policy.
"""

from __future__ import annotations

import argparse
import time

from _pipeline_support import limit_threads, load_ml1m, ml1m_ratings_path, verdict

limit_threads(1)

import numpy as np  # noqa: E402

from recommenders.core.registry import create_model  # noqa: E402
from recommenders.core.served_exploration import (  # noqa: E402
    ExplorationSettings,
    explore_served,
    request_rng,
)

K = 10
POLICIES = {
    "sorted": ExplorationSettings(),
    "plackett_luce": ExplorationSettings("plackett_luce", temperature=0.1, pool=50),
    "epsilon_greedy": ExplorationSettings("epsilon_greedy", epsilon=0.2),
}
RULES = {"max_per_category": 3}


def serve(model, user: int, policy: ExplorationSettings, request_id: str) -> None:
    ranked = model.recommend_one(user, policy.depth(K), rules=RULES)
    explore_served(ranked, K, policy, request_rng(request_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None, help="per policy")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    n_requests = args.requests or (300 if args.quick else 2000)
    data = load_ml1m(ml1m_ratings_path(args.data), 300 if args.quick else None)
    model = create_model("item_cf").fit(data)
    rng = np.random.default_rng(0)
    users = rng.choice(data.n_users, size=n_requests + 50, replace=True)
    timings: dict[str, list[float]] = {name: [] for name in POLICIES}
    for number, user in enumerate(users):
        for name, policy in POLICIES.items():
            started = time.perf_counter()
            serve(model, int(user), policy, f"request-{number}")
            if number >= 50:  # warm-up
                timings[name].append((time.perf_counter() - started) * 1000.0)
    p99_sorted = float(np.percentile(timings["sorted"], 99))
    print(
        f"exploration_serving: item_cf on ML-1M ({data.n_users} users, {data.n_items} items), "
        f"{n_requests} requests per policy, k={K}"
    )
    for name in ("plackett_luce", "epsilon_greedy"):
        p50 = float(np.percentile(timings[name], 50))
        p99 = float(np.percentile(timings[name], 99))
        ratio = p99 / p99_sorted
        print(
            f"exploration_serving: {name} p50 {p50:.2f} ms p99 {p99:.2f} ms vs sorted p50 "
            f"{np.percentile(timings['sorted'], 50):.2f} ms p99 {p99_sorted:.2f} ms: ratio "
            f"{ratio:.2f} (target <= 1.2) {verdict(ratio <= 1.2)}"
        )


if __name__ == "__main__":
    main()
