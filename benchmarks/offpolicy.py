"""Off-policy evaluation on this benchmark's own synthetic position-based click model.

NOT the project's user simulator (built separately): the model lives in this file. There
are ``CONTEXTS`` user types, each with ``POOL`` candidate items of known relevance
(``Beta(1.2, 6)``); a list has ``K`` positions examined with probabilities ``EXAMINATION``
and a click at position ``j`` on item ``i`` happens with probability
``EXAMINATION[j] * relevance[i]`` (the position-based model, under which the item-position
estimators are unbiased). Each user belongs to one type; lists are spread over users so
that intervals must cluster by user.

Production serves with exploration: Plackett-Luce over its scores (``logit(relevance)``
plus noise) at ``TEMPERATURE``, its marginal item-position propensities from
``recommenders.core.exploration.plackett_luce_marginals``. (The 200,000 lists of a replicate
are drawn with the same Gumbel-top-k construction as ``plackett_luce_sample``, vectorised
here; the sampler itself is timed in the last line.) Three deterministic candidates rank by
their own noisy scores: *better* (less noise than production), *similar* (as much),
*worse* (more). Their true expected clicks per list are exact sums over the model.

Lines (figure, target, PASS/MISS):
- SNIPS and DR (item-position forms, ``analytics.offpolicy``) relative error per candidate
  at ``--lists`` logged lists (target <= 5%), with the on-policy check of each truth;
- coverage of the 95% normal interval clustered by user over ``--replicates`` (>= 90%);
- the candidates ranked in the true order by both estimators;
- the true cost of exploring against greedy sorting, within the budget;
- in-process latency of a ranking request (3,706 item scores from 64-d embeddings, ML-1M's
  item count, then top-10) with the Plackett-Luce sampler against plain sorting
  (p99 ratio <= 1.2).

    python benchmarks/offpolicy.py [--quick] [--lists N] [--replicates R]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.offpolicy import doubly_robust, snips  # noqa: E402
from recommenders.core.exploration import (  # noqa: E402
    exploration_cost,
    plackett_luce_marginals,
    plackett_luce_sample,
)

CONTEXTS, POOL, K = 200, 20, 5
EXAMINATION = np.array([1.0, 0.7, 0.5, 0.35, 0.25])
TEMPERATURE = 0.7
LISTS_PER_USER = 8
PRODUCTION_NOISE = 1.0
CANDIDATES = {"better": 0.4, "similar": 1.0, "worse": 2.0}
BUDGET_RELATIVE = 0.10  # the owner accepts losing at most 10% of greedy's clicks
ML1M_ITEMS, LATENCY_K, LATENCY_POOL, DIM = 3706, 10, 50, 64


class Model:
    """The synthetic world: relevance, production and candidate scores, reward model."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.relevance = rng.beta(1.2, 6.0, (CONTEXTS, POOL))
        logit = np.log(self.relevance / (1 - self.relevance))
        self.production = logit + rng.normal(0, PRODUCTION_NOISE, logit.shape)
        self.candidates = {
            name: np.argsort(-(logit + rng.normal(0, noise, logit.shape)), axis=1)[:, :K]
            for name, noise in CANDIDATES.items()
        }
        # the reward model DR leans on: relevance known only up to a 30% log-normal error
        self.relevance_model = np.clip(self.relevance * rng.lognormal(0, 0.3, logit.shape), 0, 1)
        self.marginals = np.stack(
            [plackett_luce_marginals(s, K, temperature=TEMPERATURE) for s in self.production]
        )

    def truth(self, name: str) -> float:
        chosen = np.take_along_axis(self.relevance, self.candidates[name], axis=1)
        return float(np.mean(chosen @ EXAMINATION))

    def log(self, lists: int, rng: np.random.Generator):
        """Users, their contexts, the logged lists (Gumbel-top-k) and their clicks."""
        users = rng.integers(0, max(1, lists // LISTS_PER_USER), lists)
        user_context = rng.integers(0, CONTEXTS, users.max() + 1)
        context = user_context[users]
        keys = self.production[context] / TEMPERATURE + rng.gumbel(size=(lists, POOL))
        top = np.argpartition(-keys, K - 1, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
        items = np.take_along_axis(top, order, axis=1)
        shown_relevance = self.relevance[context[:, None], items]
        clicks = (rng.random((lists, K)) < shown_relevance * EXAMINATION).astype(float)
        return users, context, items, clicks

    def estimates(self, name: str, users, context, items, clicks):
        positions = np.arange(K)
        logging = self.marginals[context[:, None], items, positions]
        chosen = self.candidates[name][context]
        target = (items == chosen).astype(float)
        q_logged = self.relevance_model[context[:, None], items] * EXAMINATION
        q_target = self.relevance_model[context[:, None], chosen] * EXAMINATION
        sn = snips(clicks, logging, target, user_ids=users)
        dr = doubly_robust(clicks, logging, target, q_logged, q_target, user_ids=users)
        return sn, dr

    def on_policy(self, name: str, lists: int, rng: np.random.Generator) -> float:
        context = rng.integers(0, CONTEXTS, lists)
        shown = self.relevance[context[:, None], self.candidates[name][context]]
        return float(np.mean((rng.random((lists, K)) < shown * EXAMINATION).sum(axis=1)))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def accuracy_lines(model: Model, lists: int, replicates: int) -> list[str]:
    rng = np.random.default_rng(1)
    covered = {(name, est): 0 for name in CANDIDATES for est in ("SNIPS", "DR")}
    first: dict[tuple[str, str], float] = {}
    for replicate in range(replicates):
        logged = model.log(lists, rng)
        for name in CANDIDATES:
            truth = model.truth(name)
            estimates = model.estimates(name, *logged)
            for estimate, label in zip(estimates, ("SNIPS", "DR"), strict=True):
                covered[name, label] += estimate.ci[0] <= truth <= estimate.ci[1]
                if replicate == 0:
                    first[name, label] = estimate.value
    lines = []
    for name in CANDIDATES:
        truth = model.truth(name)
        on_policy = model.on_policy(name, lists, rng)
        for label in ("SNIPS", "DR"):
            error = abs(first[name, label] / truth - 1)
            lines.append(
                f"offpolicy: {name} candidate {label} {first[name, label]:.4f} clicks/list vs "
                f"truth {truth:.4f} (on-policy run {on_policy:.4f}) at {lists} logged lists: "
                f"relative error {error:.2%} (target <= 5%) {_verdict(error <= 0.05)}"
            )
    shares = {key: count / replicates for key, count in covered.items()}
    listed = ", ".join(f"{label} {name} {share:.0%}" for (name, label), share in shares.items())
    lines.append(
        f"offpolicy: 95% interval (normal, clustered by user) coverage over {replicates} "
        f"replicates of {lists} lists: {listed} (target >= 90% each) "
        f"{_verdict(min(shares.values()) >= 0.90)}"
    )
    true_order = sorted(CANDIDATES, key=model.truth, reverse=True)
    orders = {
        label: sorted(CANDIDATES, key=lambda n, lb=label: first[n, lb], reverse=True)
        for label in ("SNIPS", "DR")
    }
    same = all(order == true_order for order in orders.values())
    lines.append(
        f"offpolicy: candidates ranked {' > '.join(orders['SNIPS'])} (SNIPS), "
        f"{' > '.join(orders['DR'])} (DR); true order {' > '.join(true_order)} "
        f"(target: same) {_verdict(same)}"
    )
    return lines


def cost_line(model: Model) -> str:
    true_costs = [
        exploration_cost(s, m, r, EXAMINATION)
        for s, m, r in zip(model.production, model.marginals, model.relevance, strict=True)
    ]
    shown_costs = [  # what the admin shows: the cost under the reward model's relevance
        exploration_cost(s, m, r, EXAMINATION)
        for s, m, r in zip(model.production, model.marginals, model.relevance_model, strict=True)
    ]
    greedy = np.mean([c.greedy_clicks for c in true_costs])
    loss = np.mean([c.loss for c in true_costs])
    predicted = np.mean([c.loss for c in shown_costs])
    budget = BUDGET_RELATIVE * greedy
    return (
        f"offpolicy: exploration (Plackett-Luce, T={TEMPERATURE}) costs {loss:.4f} clicks/list "
        f"({loss / greedy:.1%} of greedy's {greedy:.4f}; predicted from the reward model "
        f"{predicted:.4f}) (target <= budget {budget:.4f}, {BUDGET_RELATIVE:.0%}) "
        f"{_verdict(loss <= budget)}"
    )


def _timings_microseconds(calls, runs: int) -> np.ndarray:
    """``timings[c, i]``: call ``c`` on input ``i``; the calls alternate so that both see the
    same machine load, with the garbage collector off."""
    timings = np.empty((len(calls), runs))
    gc.disable()
    try:
        for i in range(runs):
            for c, call in enumerate(calls):
                started = time.perf_counter()
                call(i)
                timings[c, i] = time.perf_counter() - started
    finally:
        gc.enable()
    return timings * 1e6


def latency_line(runs: int) -> str:
    rng = np.random.default_rng(2)
    items = rng.normal(size=(ML1M_ITEMS, DIM)).astype(np.float32)
    users = rng.normal(size=(runs, DIM)).astype(np.float32)

    def sorted_request(i: int) -> np.ndarray:
        scores = items @ users[i]
        top = np.argpartition(-scores, LATENCY_K - 1)[:LATENCY_K]
        return top[np.argsort(-scores[top])]

    def exploring_request(i: int) -> np.ndarray:
        scores = items @ users[i]
        return plackett_luce_sample(
            scores, LATENCY_K, temperature=TEMPERATURE, rng=rng, pool=LATENCY_POOL
        ).indices

    for i in range(min(runs, 200)):  # warm up
        sorted_request(i), exploring_request(i)
    timings = _timings_microseconds([sorted_request, exploring_request], runs)
    p50, p99 = np.quantile(timings, 0.5, axis=1), np.quantile(timings, 0.99, axis=1)
    ratio = p99[1] / p99[0]
    return (
        f"offpolicy: ranking request in process over {runs} runs ({ML1M_ITEMS} items, "
        f"k={LATENCY_K}): sorted p50 {p50[0]:.0f} us p99 {p99[0]:.0f} us; Plackett-Luce over "
        f"the top {LATENCY_POOL} p50 {p50[1]:.0f} us p99 {p99[1]:.0f} us; p99 ratio "
        f"{ratio:.2f} (target <= 1.2) {_verdict(ratio <= 1.2)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 lists, 20 replicates")
    parser.add_argument("--lists", type=int, default=None)
    parser.add_argument("--replicates", type=int, default=None)
    args = parser.parse_args(argv)
    lists = args.lists or (20_000 if args.quick else 200_000)
    replicates = args.replicates or (20 if args.quick else 100)
    print("offpolicy: figures on this benchmark's own synthetic position-based click model")
    model = Model()
    for line in accuracy_lines(model, lists, replicates):
        print(line, flush=True)
    print(cost_line(model))
    print(latency_line(2_000 if args.quick else 20_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
