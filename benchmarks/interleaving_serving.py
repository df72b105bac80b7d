"""Serving latency of an interleaved request against a single ranker's, in process.

An interleaving experiment's request asks every ranker at once (one ``recommend`` task per
configuration, each run by a serving worker) and merges their lists by team draft. This
benchmark runs that worker side in one process on the ML-1M catalogue: two rankers fitted
on ML-1M positives (item-CF with BM25 weights, 100 neighbours, and item-CF with shrunk
cosine, 50 neighbours: two configurations of one algorithm, as a tuning experiment
compares), each answering through
``recommend_one`` as a serving worker does (one BLAS thread), the two run concurrently on a
pool of two worker processes forked after the fit (a pipe stands for the task queue;
every task is sent, then every answer awaited), then ``merge_answers`` (the team
draft and the served items, as the web side runs it). A single-ranker request is one
``recommend_one`` and the served items, through one worker the same way.

Target: p99 of the interleaved request <= 2.2 x the p99 of the slower single ranker (the
request an A/B user of that ranker would get). Figures are wall-clock milliseconds over
seeded random users (k = 10), after 50 warm-up requests; the sequential figure (one ranker
after the other, on one worker) is printed for comparison. The two workers need two cores.

    python benchmarks/interleaving_serving.py [--quick] [--requests 1000] [--data FILE]

``--quick``: 1,000 users fitted, 200 requests.
"""

from __future__ import annotations

import argparse
import time

from _pipeline_support import limit_threads, load_ml1m, ml1m_ratings_path, verdict

limit_threads(1)

import numpy as np  # noqa: E402

from recommenders.core.registry import create_model  # noqa: E402
from recommenders.serving.interleave import merge_answers  # noqa: E402

TARGET_RATIO = 2.2
K = 10


def _answer(model, item_ids: np.ndarray, user: int, catalogue) -> dict:
    served = model.recommend_one(user_index=user, k=K, context={}, catalogue=catalogue)
    items = [
        {"item_id": str(item_ids[index]), "score": round(score, 6), "source": source}
        for index, score, source in served
    ]
    return {"status": "ok", "model_version": 1, "items": items}


def _serve_forever(conn, rankers, catalogues, item_ids) -> None:
    while (task := conn.recv()) is not None:
        team, user = task
        conn.send(_answer(rankers[team], item_ids, user, catalogues[team]))


def _start_worker(rankers, catalogues, item_ids):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve_forever, args=(child, rankers, catalogues, item_ids), daemon=True
    )
    process.start()
    return parent, process


def _p99(timings: list[float]) -> float:
    return float(np.percentile(np.asarray(timings[50:]) * 1000, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    n_requests = args.requests or (200 if args.quick else 1000)
    data = load_ml1m(ml1m_ratings_path(args.data), n_users=1000 if args.quick else None)
    rankers = [
        create_model("item_cf", similarity="bm25", neighbours=100, num_threads=1),
        create_model("item_cf", similarity="cosine", neighbours=50, num_threads=1),
    ]
    for model in rankers:
        model.fit(data)
    catalogues = [model.item_catalogue() for model in rankers]
    item_ids = np.asarray(data.item_ids) if data.item_ids is not None else np.arange(data.n_items)
    users = np.random.default_rng(0).integers(0, data.n_users, n_requests + 50)

    # Two serving workers, forked after the fit so both hold both warm models (as every
    # serving worker keeps the active versions warm); a pipe stands for the task queue.
    workers = [_start_worker(rankers, catalogues, item_ids) for _ in range(2)]
    try:
        single = [[], []]
        for team in range(2):
            for user in users.tolist():
                started = time.perf_counter()
                workers[0][0].send((team, user))
                workers[0][0].recv()
                single[team].append(time.perf_counter() - started)
        parallel, sequential = [], []
        for user in users.tolist():
            started = time.perf_counter()
            for team, (conn, _) in enumerate(workers):  # send every task, then wait for all
                conn.send((team, user))
            answers = [conn.recv() for conn, _ in workers]
            merge_answers(["bm25", "cosine"], answers, length=K, seed="bench", user_id=str(user))
            parallel.append(time.perf_counter() - started)
        for user in users.tolist():
            started = time.perf_counter()
            answers = []
            for team in range(2):
                workers[0][0].send((team, user))
                answers.append(workers[0][0].recv())
            merge_answers(["bm25", "cosine"], answers, length=K, seed="bench", user_id=str(user))
            sequential.append(time.perf_counter() - started)
    finally:
        for conn, process in workers:
            conn.send(None)
            process.join(timeout=10)

    single_p99 = [_p99(t) for t in single]
    reference = max(single_p99)
    ratio = _p99(parallel) / reference
    print(
        f"interleaving_serving {n_requests} requests, k {K}, ML-1M catalogue "
        f"({data.n_items} items, {data.n_users} users): single ranker p99 item-CF "
        f"BM25 {single_p99[0]:.2f} ms, item-CF cosine {single_p99[1]:.2f} ms; "
        f"interleaved (both at once, team draft) p99 {_p99(parallel):.2f} ms = "
        f"{ratio:.2f}x the slower ranker "
        f"(target <= {TARGET_RATIO}x) {verdict(ratio <= TARGET_RATIO)}; "
        f"one after the other p99 {_p99(sequential):.2f} ms"
    )


if __name__ == "__main__":
    main()
