"""Off-policy evaluation on the user simulator: estimates against each candidate's true CTR.

The world is the simulator's (``simulator.population``, ``simulator.behaviour``): users and
items with latent tastes, generated, or fitted from MovieLens-1M when ``SPLITLAB_ML1M_PATH``
points at it (``--population``); a user's true attraction to an item
``a(u, i) = sigmoid(base + taste <p_u, q_i> + b_i)``; clicks from the position-based model
``P(click at j) = e_j a(u, i)``, played by ``simulator.behaviour.play_sessions``. Each logged
list goes to a user drawn in proportion to the user's sessions per day, so heavy users give
many lists and intervals must cluster by user.

Production ranks every item by a noisy view of the truth, ``logit a(u, i) + N(0, 1)``, and
serves with exploration through the serving code's sampler: Plackett-Luce over its top
``POOL`` at ``TEMPERATURE`` (``recommenders.core.exploration.plackett_luce_sample``; the first
replicate calls it list by list, the others draw the same lists vectorised with
``plackett_luce_draws``, which a test holds identical), logging each item's marginal
propensity (``plackett_luce_marginals``).
The candidates are production's ranker with stated perturbations, ``truth + c * noise +
N(0, f^2)`` with ``noise`` production's own error: *better* ``c = 0.5, f = 0.25`` (error
variance 0.31 against production's 1), *similar* ``c = 0.8, f = 0.6`` (variance 1: as good
as production, different lists), *worse* ``c = 1, f = 0.8`` (variance 1.64); each serves its
sorted top ``K``. They share part of production's error, as a retrained or tuned ranker
does; a candidate independent of production puts much of its top ``K`` outside production's
pool of 50, where no logged list can speak for it (a limit of any off-policy estimate: the
coverage warnings flag it). Their true CTR is exact (the simulator knows every attraction),
and an on-policy simulated run of each confirms it.

The reward model of DM and DR is ``analytics.offpolicy.click_model`` fitted on the logged
lists, in two forms: *item-position* (the item's smoothed click rate and the position, no
user) and *user-aware* (plus production's score of the item for this user).

Lines (figure, target, PASS/MISS):
- SNIPS and DR relative error per candidate at ``--lists`` logged lists (target <= 5%),
  with the on-policy check of the truth;
- coverage of the 95% interval (normal, clustered by user) over ``--replicates`` (>= 90%);
- the candidates ranked in the true order by both estimators;
- DM and DR with the item-position and the user-aware click models: root mean squared
  relative error over the replicates (target: the user-aware DR's is lower);
- the true CTR lost by exploring against greedy sorting, within the budget;
- in-process latency of a ranking request with the Plackett-Luce sampler against sorting.

    python benchmarks/offpolicy.py [--quick] [--lists N] [--replicates R]
        [--population generated|ml1m]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.offpolicy import doubly_robust, snips  # noqa: E402
from analytics.offpolicy.click_model import fit_click_model, item_log_rates  # noqa: E402
from recommenders.core.exploration import (  # noqa: E402
    exploration_cost,
    plackett_luce_draws,
    plackett_luce_marginals,
    plackett_luce_sample,
)
from simulator.behaviour import BehaviourModel, SessionNoise, play_sessions  # noqa: E402
from simulator.population import fit_population, generate_population  # noqa: E402

K, POOL, TEMPERATURE = 5, 50, 0.4
PRODUCTION_NOISE = 1.0
# candidate score = truth + shared * (production's noise) + N(0, fresh^2): (shared, fresh)
CANDIDATES = {"better": (0.5, 0.25), "similar": (0.8, 0.6), "worse": (1.0, 0.8)}
FIT_ROWS = 200_000  # (list, position) rows the click models are fitted on
BUDGET_RELATIVE = 0.10  # the owner accepts losing at most 10% of greedy's CTR
ML1M_ITEMS, LATENCY_K, LATENCY_POOL, DIM = 3706, 10, 50, 64
ML1M = os.environ.get("SPLITLAB_ML1M_PATH", "")


@dataclass(frozen=True)
class Logged:
    """One replicate's log: per list its user, the served items and the clicks."""

    users: np.ndarray  # (n,)
    items: np.ndarray  # (n, K)
    clicks: np.ndarray  # (n, K) float


def ratings_file(folder: Path) -> Path | None:
    """``ratings.dat`` in the folder, else its one ``ratings*.dat`` (as
    ``recommenders.core.datasets.read_movielens_1m``); None when there is none."""
    if (folder / "ratings.dat").is_file():
        return folder / "ratings.dat"
    return next(iter(sorted(folder.glob("ratings*.dat"))), None)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


class World:
    """The simulated population, production's ranker and the candidates (module docstring)."""

    def __init__(self, n_users: int, n_items: int, population: str, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        if population == "ml1m":
            ratings = ratings_file(Path(ML1M))
            self.population = fit_population(ratings, rng=rng, n_users=n_users, n_items=n_items)
        else:
            self.population = generate_population(n_users, n_items, rng=rng)
        self.behaviour = BehaviourModel()
        pop = self.population
        everyone = np.arange(pop.n_users)
        all_items = np.broadcast_to(np.arange(pop.n_items), (pop.n_users, pop.n_items))
        self.attraction = self.behaviour.attraction(pop, everyone, all_items)
        truth = np.log(self.attraction / (1 - self.attraction))
        self.production = truth + rng.normal(0, PRODUCTION_NOISE, truth.shape)
        noise = self.production - truth
        self.candidates = {
            name: _top_k(truth + shared * noise + rng.normal(0, fresh, truth.shape), K)
            for name, (shared, fresh) in CANDIDATES.items()
        }
        self.greedy = _top_k(self.production, K)
        size = pop.n_items  # each user's pool, as plackett_luce_sample takes it (unordered)
        self.pools = np.argpartition(self.production, size - POOL, axis=1)[:, size - POOL :]
        self.pool_scores = np.take_along_axis(self.production, self.pools, axis=1)
        self.user_share = pop.sessions_per_day / pop.sessions_per_day.sum()
        self.examination = self.behaviour.examination(K)
        self.marginals = np.stack(
            [
                plackett_luce_marginals(s, K, temperature=TEMPERATURE, pool=POOL)
                for s in self.production
            ]
        )

    def true_ctr(self, lists: np.ndarray) -> float:
        """Expected clicks per impression of per-user lists (users x K), users weighted by
        their share of sessions."""
        shown = np.take_along_axis(self.attraction, lists, axis=1)
        return float(self.user_share @ (shown @ self.examination)) / K

    def exploring_ctr(self) -> float:
        per_user = np.einsum("ia,iaj,j->i", self.attraction, self.marginals, self.examination)
        return float(self.user_share @ per_user) / K

    def draw_users(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.population.n_users, n, p=self.user_share)

    def serve_one_by_one(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Production's lists through the serving sampler, one call per list."""
        return np.stack(
            [
                plackett_luce_sample(
                    self.production[u], K, temperature=TEMPERATURE, rng=rng, pool=POOL
                ).indices
                for u in users
            ]
        )

    def serve_vectorised(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The same lists as ``serve_one_by_one`` from the same generator, at numpy speed:
        each user's pool is taken once, in the order the sampler takes it, and the draws run
        over the pool's scores alone."""
        drawn = plackett_luce_draws(self.pool_scores[users], K, temperature=TEMPERATURE, rng=rng)
        return np.take_along_axis(self.pools[users], drawn, axis=1)

    def log(self, n: int, rng: np.random.Generator, one_by_one: bool = False) -> Logged:
        users = self.draw_users(n, rng)
        serve = self.serve_one_by_one if one_by_one else self.serve_vectorised
        items = serve(users, rng)
        noise = SessionNoise.draw(n, K, rng)
        shown = self.attraction[users[:, None], items]
        outcome = play_sessions(
            self.population, self.behaviour, users, items, noise, attraction=shown
        )
        return Logged(users, items, outcome.clicks.astype(float))

    def on_policy(self, name: str, n: int, rng: np.random.Generator) -> tuple[float, float]:
        """CTR per impression of the candidate serving ``n`` lists, and its standard error
        (lists are independent: each draws its user afresh)."""
        users = self.draw_users(n, rng)
        items = self.candidates[name][users]
        noise = SessionNoise.draw(n, K, rng)
        clicks = play_sessions(self.population, self.behaviour, users, items, noise).clicks
        per_list = clicks.mean(axis=1)
        return float(per_list.mean()), float(per_list.std(ddof=1) / np.sqrt(n))


class RewardModels:
    """The item-position and user-aware click models fitted on one log: the item rates on
    every row, the click models on at most ``FIT_ROWS`` (list, position) rows drawn at
    random (a few parameters: more rows change them little and cost seconds per replicate;
    DR stays unbiased whatever the reward model)."""

    def __init__(self, world: World, logged: Logged, rng: np.random.Generator) -> None:
        self.world = world
        n = logged.users.size
        positions = np.tile(np.arange(K), n)
        clicks = logged.clicks.ravel()
        self.rates = item_log_rates(
            logged.items.ravel(), positions, clicks, n_positions=K,
            n_items=world.population.n_items,
        )  # fmt: skip
        rows = np.arange(n * K)
        if rows.size > FIT_ROWS:
            rows = np.sort(rng.choice(rows.size, FIT_ROWS, replace=False))
        self.models = {
            form: fit_click_model(
                self.features(form, logged.users, logged.items).reshape(n * K, -1)[rows],
                positions[rows],
                clicks[rows],
                n_positions=K,
            )  # fmt: skip
            for form in ("item-position", "user-aware")
        }

    def features(self, form: str, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(n, K, d): the item's smoothed log click rate; user-aware adds production's score
        of the item for the user."""
        columns = [self.rates[items]]
        if form == "user-aware":
            columns.append(self.world.production[users[:, None], items])
        return np.stack(columns, axis=-1)

    def predict(self, form: str, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        n = users.size
        z = self.features(form, users, items).reshape(n * K, -1)
        return self.models[form].predict(z, np.tile(np.arange(K), n)).reshape(n, K)


def estimates(world: World, name: str, logged: Logged, models: RewardModels) -> dict:
    """SNIPS, DM and DR (both reward models) of a candidate, in CTR per impression."""
    users, items, clicks = logged.users, logged.items, logged.clicks
    logging = world.marginals[users[:, None], items, np.arange(K)]
    chosen = world.candidates[name][users]
    target = (items == chosen).astype(float)
    out = {"SNIPS": snips(clicks, logging, target, user_ids=users)}
    for form in ("item-position", "user-aware"):
        q_logged = models.predict(form, users, items)
        q_target = models.predict(form, users, chosen)
        out[f"DR {form}"] = doubly_robust(
            clicks, logging, target, q_logged, q_target, user_ids=users
        )
        out[f"DM {form}"] = float(q_target.sum(axis=1).mean())
    return out


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _ctr(estimate) -> float:
    return estimate / K if isinstance(estimate, float) else estimate.value / K


def accuracy_lines(world: World, lists: int, replicates: int) -> list[str]:
    rng = np.random.default_rng(1)
    truth = {name: world.true_ctr(world.candidates[name]) for name in CANDIDATES}
    interval_kinds = ("SNIPS", "DR user-aware")
    covered = {(name, kind): 0 for name in CANDIDATES for kind in interval_kinds}
    errors: dict[tuple[str, str], list[float]] = {}
    first: dict[tuple[str, str], float] = {}
    for replicate in range(replicates):
        logged = world.log(lists, rng, one_by_one=replicate == 0)
        models = RewardModels(world, logged, rng)
        for name in CANDIDATES:
            for kind, estimate in estimates(world, name, logged, models).items():
                value = _ctr(estimate)
                errors.setdefault((name, kind), []).append(value / truth[name] - 1)
                if replicate == 0:
                    first[name, kind] = value
                if kind in interval_kinds:
                    low, high = (bound / K for bound in estimate.ci)
                    covered[name, kind] += low <= truth[name] <= high
    lines = []
    for name in CANDIDATES:
        on_policy, se = world.on_policy(name, lists, rng)
        confirmed = abs(on_policy - truth[name]) <= 1.96 * se
        for kind, label in (("SNIPS", "SNIPS"), ("DR user-aware", "DR")):
            error = abs(first[name, kind] / truth[name] - 1)
            lines.append(
                f"offpolicy: {name} candidate {label} CTR {first[name, kind]:.4f} vs truth "
                f"{truth[name]:.4f} (on-policy run {on_policy:.4f} +- {1.96 * se:.4f}: "
                f"{'confirms' if confirmed else 'DISAGREES'}) at {lists} logged lists: "
                f"relative error {error:.2%} (target <= 5%) {_verdict(error <= 0.05)}"
            )
    shares = {key: count / replicates for key, count in covered.items()}
    listed = ", ".join(
        f"{kind.split()[0]} {name} {share:.0%}" for (name, kind), share in shares.items()
    )
    lines.append(
        f"offpolicy: 95% interval (normal, clustered by user) coverage over {replicates} "
        f"replicates of {lists} lists: {listed} (target >= 90% each) "
        f"{_verdict(min(shares.values()) >= 0.90)}"
    )
    true_order = sorted(CANDIDATES, key=truth.__getitem__, reverse=True)
    orders = {
        kind: sorted(CANDIDATES, key=lambda n, kd=kind: first[n, kd], reverse=True)
        for kind in interval_kinds
    }
    same = all(order == true_order for order in orders.values())
    lines.append(
        f"offpolicy: candidates ranked {' > '.join(orders['SNIPS'])} (SNIPS), "
        f"{' > '.join(orders['DR user-aware'])} (DR); true order {' > '.join(true_order)} "
        f"(target: same) {_verdict(same)}"
    )
    for name in CANDIDATES:
        rmse = {kind: float(np.sqrt(np.mean(np.square(e)))) for (n, kind), e in errors.items()
                if n == name}  # fmt: skip
        better = rmse["DR user-aware"] < rmse["DR item-position"]
        lines.append(
            f"offpolicy: {name} candidate, relative RMSE over {replicates} replicates: "
            f"DM item-position {rmse['DM item-position']:.2%}, DM user-aware "
            f"{rmse['DM user-aware']:.2%}, DR item-position {rmse['DR item-position']:.2%}, "
            f"DR user-aware {rmse['DR user-aware']:.2%}, SNIPS {rmse['SNIPS']:.2%} "
            f"(target: user-aware DR below item-position DR) {_verdict(better)}"
        )
    return lines


def cost_line(world: World) -> str:
    greedy, exploring = world.true_ctr(world.greedy), world.exploring_ctr()
    # the same figure through the serving code's cost function, user by user
    per_user = [
        exploration_cost(s, m, a, world.examination).loss
        for s, m, a in zip(world.production, world.marginals, world.attraction, strict=True)
    ]
    loss = float(world.user_share @ np.array(per_user)) / K
    budget = BUDGET_RELATIVE * greedy
    return (
        f"offpolicy: production's exploration (Plackett-Luce over its top {POOL}, "
        f"T={TEMPERATURE}) true CTR {exploring:.4f} vs greedy {greedy:.4f}: loses {loss:.4f} "
        f"({loss / greedy:.1%}) (target <= budget {budget:.4f}, {BUDGET_RELATIVE:.0%} of "
        f"greedy) {_verdict(loss <= budget + 1e-12 and abs(greedy - exploring - loss) < 1e-9)}"
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
    parser.add_argument(
        "--quick", action="store_true", help="400 users, 20,000 lists, 10 replicates"
    )
    parser.add_argument("--lists", type=int, default=None)
    parser.add_argument("--replicates", type=int, default=None)
    parser.add_argument(
        "--population", choices=("generated", "ml1m"), default=None,
        help="default: ml1m when SPLITLAB_ML1M_PATH is set, else generated",
    )  # fmt: skip
    args = parser.parse_args(argv)
    lists = args.lists or (20_000 if args.quick else 200_000)
    replicates = args.replicates or (10 if args.quick else 100)
    population = args.population or ("ml1m" if ML1M else "generated")
    if population == "ml1m" and (not ML1M or ratings_file(Path(ML1M)) is None):
        print(f"offpolicy: ratings*.dat in {ML1M or '(unset)'} not found", file=sys.stderr)
        return 2
    n_users, n_items = (400, 300) if args.quick else (2000, 500)
    world = World(n_users, n_items, population)
    print(
        f"offpolicy: figures on the simulator ({population} population, {n_users} users, "
        f"{n_items} items, lists of {K})"
    )
    for line in accuracy_lines(world, lists, replicates):
        print(line, flush=True)
    print(cost_line(world))
    print(latency_line(2_000 if args.quick else 20_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
