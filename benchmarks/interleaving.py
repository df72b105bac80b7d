"""Interleaving against A/B testing on the user simulator, with rankers trained in process.

The world (``simulator`` for the users, ``benchmarks/_simulation_pipeline.py`` for training
and serving, as figure 7 of ``simulation.py``):
- a generated population (``--population ml1m``: tastes fitted from MovieLens-1M at
  ``SPLITLAB_ML1M_PATH``) with a planted attraction ``a(u, i)`` for every user and item;
- histories drawn from that attraction train, in process, the two-tower ``pipeline``,
  ``item_cf`` and ``popular`` (``recommenders.core``); each user's top-10 list from each is
  ``recommend_one``'s answer (seen items excluded, business rules applied), as the serving
  workers answer. A fourth ranker is the pipeline with its first item moved to position 6;
- each user has ``Poisson(sessions_per_day * 7)`` sessions (users without one are never
  exposed and are left out); the rankers are deterministic, so every session of a user
  shows the same list, and clicks follow the simulator's position-based model
  (``BehaviourModel.click_probability``).

The two experiments on that population:
- interleaving as the product runs it: a user's list is the ``team_draft`` of the two
  rankers' lists keyed by the experiment's seed and the user (as ``merge_answers`` serves
  it), so one user sees one draft in all their sessions; every session is an
  ``Impression``, ``credit_table`` credits its clicks and the report's two tests read the
  table: ``preference_test`` (sign test over users, ties dropped) and ``credit_difference``
  (credited clicks per impression of one team less the other's, user-clustered z-test);
- A/B: half the users see one ranker, half the other, analysed by the report's CTR test
  (``ratio_metric_test``: clicks / impressions, delta method over users).

Truth, exact from the planted click probabilities ``p``: a ranker's true CTR is
``sum_u S_u mean_k p_u(k) / sum_u S_u`` (``S_u`` the user's sessions); the true credit
difference per impression is ``sum_u S_u sum_k p_u(k) sign_u(k) / sum_u S_u`` over the
drafted lists (``sign`` +1 where the first team holds position ``k``), averaged over the
pilots' experiment seeds.

Users needed at 80% power, two-sided alpha 0.05, by plugging what each test's statistic
does on this population into its sample-size formula (not by a grid of simulated sizes):
- A/B: ``sample_size_means`` with the sd of the users' linearised CTR (mean of the two
  rankers' variances, ``--pilots`` click draws) and the true CTR difference; both arms;
- sign test: ``plan_interleaving`` with the share of decisive users who favour the better
  ranker and the decisive share, pooled over ``--pilots`` whole-population experiments;
- credit difference: ``credit_difference_users_needed`` with the true difference and the
  per-user sd from the pilots' ``std_error * sqrt(users)``.
The power line checks that plug-in on one pair: at the planned sizes, the share of
experiments on users resampled from the population (fresh drafts, fresh clicks) in which
each test finds the better ranker. The A/A line runs the pipeline against itself.

Lines (figure, target, PASS/MISS): per pair the users each test needs and the ratio to A/B
(target at least 10x fewer); the power check (80% +- 5% each); the A/A false-positive rate
of both interleaving tests (5% +- 1.5%) and the pooled preference's interval around 0.5;
agreement of both tests with the true CTR order in every pair differing by more than 2%.

``--draft-key session`` is a what-if, not the product: a fresh draft in every session (the
recommendations API has no session id, so serving keys the draft by user).

    python benchmarks/interleaving.py [--quick] [--population generated|ml1m] [--seed 0]
        [--draft-key user|session]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.interleaving import (  # noqa: E402
    CreditTable,
    Impression,
    credit_difference,
    credit_difference_users_needed,
    credit_table,
    plan_interleaving,
    preference_test,
    team_draft,
    wilson_interval,
)
from analytics.stats import ratio_metric_test, sample_size_means  # noqa: E402
from benchmarks._simulation_pipeline import (  # noqa: E402
    pipeline_params,
    planted_history,
    served_lists,
)
from recommenders.core.registry import create_model  # noqa: E402
from simulator.behaviour import BehaviourModel  # noqa: E402
from simulator.population import Population, fit_population, generate_population  # noqa: E402

MODEL = BehaviourModel()
K = 10
DAYS = 7.0
SEED = "benchmark-interleaving"
DEGRADED = "pipeline, degraded top"
PAIRS = [("pipeline", "item_cf"), ("item_cf", "popular"), ("pipeline", DEGRADED)]
POWER_PAIR = ("pipeline", DEGRADED)  # the largest planned sizes: where the formulas hold
EXAMINATION = MODEL.examination(K)
SIZES = {
    "quick": dict(users=800, items=300, epochs=2, pilots=3, power=20, aa=200, aa_users=100),
    "full": dict(users=3000, items=400, epochs=5, pilots=20, power=200, aa=400, aa_users=400),
}


@dataclass(frozen=True)
class World:
    """The exposed users (rows into ``pop``), their sessions in the experiment, and each
    ranker's list for each of them with its planted click probabilities."""

    pop: Population
    users: np.ndarray
    sessions: np.ndarray
    lists: dict[str, np.ndarray]
    probability: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.users)

    def true_ctr(self, ranker: str) -> float:
        clicks = self.sessions @ self.probability[ranker].mean(axis=1)
        return float(clicks / self.sessions.sum())


def build_world(size: dict, population: str, rng: np.random.Generator) -> tuple[World, str]:
    """Population, histories, the three trained rankers' lists (module docstring)."""
    if population == "ml1m":
        path = Path(os.environ.get("SPLITLAB_ML1M_PATH", "")) / "ratings_ge4_complete.dat"
        if not path.is_file():
            raise FileNotFoundError(f"ML-1M ratings not found at {path} (SPLITLAB_ML1M_PATH)")
        pop = fit_population(path, rng=rng, n_users=size["users"], n_items=size["items"])
    else:
        pop = generate_population(size["users"], size["items"], rng=rng, prefix="il")
    data = planted_history(pop, MODEL, rng, history_mean=15.0)
    started = time.monotonic()
    seed = int(rng.integers(2**31))
    models = {
        "pipeline": create_model("pipeline", **pipeline_params(size["epochs"], seed)),
        "item_cf": create_model("item_cf"),
        "popular": create_model("popular"),
    }
    lists = {name: served_lists(model.fit(data), pop, K) for name, model in models.items()}
    top = lists["pipeline"]
    lists[DEGRADED] = np.concatenate([top[:, 1:6], top[:, :1], top[:, 6:]], axis=1)
    sessions = rng.poisson(pop.sessions_per_day * DAYS)
    users = np.flatnonzero(sessions > 0)
    lists = {name: rows[users] for name, rows in lists.items()}
    probability = {name: MODEL.click_probability(pop, users, rows) for name, rows in lists.items()}
    world = World(pop, users, sessions[users], lists, probability)
    source = "tastes fitted from ML-1M" if population == "ml1m" else "generated tastes"
    return world, (
        f"interleaving: simulator population ({source}): {world.size:,} exposed users x "
        f"{pop.n_items} items, {world.sessions.mean():.1f} sessions per user over "
        f"{DAYS:.0f} days; pipeline ({size['epochs']} two-tower epochs), item_cf and popular "
        f"trained on {data.matrix.nnz:,} planted positives and serving top-{K} through "
        f"recommend_one ({time.monotonic() - started:.0f} s); true CTR "
        + ", ".join(f"{name} {world.true_ctr(name):.4f}" for name in lists)
    )


@dataclass(frozen=True)
class InterleavedRun:
    """One interleaving experiment: its credit table and the exact expected credit
    difference per impression (first team less second) of the lists it drafted."""

    table: CreditTable
    true_difference: float


def interleave(
    world: World,
    a: str,
    b: str,
    rows: np.ndarray,
    seed: str,
    rng: np.random.Generator,
    *,
    draft_key: str = "user",
) -> InterleavedRun:
    """The experiment on the users ``rows`` (a row drawn twice is two users). ``draft_key``
    ``"user"``: one draft per user, as serving keys it; ``"session"``: a fresh draft in
    every session (a what-if: the API has no session id to key on)."""
    impressions: list[Impression] = []
    expected = 0.0
    for draw, row in enumerate(rows.tolist()):
        user = f"{world.pop.user_ids[world.users[row]]}#{draw}"
        rankings = [world.lists[a][row].tolist(), world.lists[b][row].tolist()]
        union = np.unique(np.concatenate([world.lists[a][row], world.lists[b][row]]))
        # click_probability without an effect: examination(position) * attraction(item)
        found = MODEL.attraction(world.pop, world.users[row : row + 1], union[None, :])[0]
        attraction = dict(zip(union.tolist(), found.tolist(), strict=True))
        drafts: dict[str, tuple] = {}
        for session in range(world.sessions[row]):
            key = user if draft_key == "user" else f"{user}/{session}"
            if key not in drafts:
                served = team_draft(rankings, length=K, seed=seed, key=key)
                p = EXAMINATION * np.array([attraction[item] for item in served.items])
                gain = float(p @ np.where(np.asarray(served.teams), -1.0, 1.0))
                drafts[key] = (served, np.asarray(served.items), p, gain)
            served, items, p, gain = drafts[key]
            expected += gain
            impressions.append(Impression(user, served, items[rng.random(K) < p].tolist()))
    return InterleavedRun(credit_table(impressions), expected / world.sessions[rows].sum())


def ab_clicks(world: World, ranker: str, rows: np.ndarray, rng: np.random.Generator):
    """(clicks, impressions) of the users ``rows`` served ``ranker`` alone."""
    sessions = world.sessions[rows]
    clicks = rng.binomial(sessions[:, None], world.probability[ranker][rows]).sum(axis=1)
    return clicks.astype(float), (K * sessions).astype(float)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True)
class PairFigures:
    ab_users: int
    sign_users: int
    difference_users: int
    better: int  # 0: the first ranker has the higher true CTR
    agrees: bool  # both tests of the first pilot prefer the better ranker significantly


def ab_users_needed(world: World, a: str, b: str, pilots: int, rng) -> tuple[int, float]:
    """Users of the A/B test on CTR at 80% power (per-user linearised CTR variance), and the
    share of that variance between users: what is left once a user's own click noise
    (binomial, ``sum_k S_u p_uk (1 - p_uk)``) is taken out, the part a within-user
    comparison such as interleaving can cancel."""
    everyone = np.arange(world.size)
    variances, within = [], []
    for ranker in (a, b):
        p = world.probability[ranker]
        noise = world.sessions * np.sum(p * (1 - p), axis=1)
        for _ in range(pilots):
            clicks, impressions = ab_clicks(world, ranker, everyone, rng)
            ctr = clicks.sum() / impressions.sum()
            scale = impressions.mean()
            variances.append(np.var((clicks - ctr * impressions) / scale, ddof=1))
            within.append(np.mean(noise) / scale**2)
    delta = world.true_ctr(b) - world.true_ctr(a)
    users = sample_size_means(math.sqrt(np.mean(variances)), abs(delta)).total
    return users, 1 - float(np.mean(within) / np.mean(variances))


def pair_figures(
    world: World, a: str, b: str, pilots: int, rng, draft_key: str
) -> tuple[PairFigures, list]:
    everyone = np.arange(world.size)
    runs = [
        interleave(world, a, b, everyone, f"{SEED}-pilot{i}", rng, draft_key=draft_key)
        for i in range(pilots)
    ]
    prefs = [preference_test(run.table) for run in runs]
    diffs = [credit_difference(run.table) for run in runs]
    wins_a, wins_b = sum(p.wins_a for p in prefs), sum(p.wins_b for p in prefs)
    sign = plan_interleaving(
        max(wins_a, wins_b) / (wins_a + wins_b), (wins_a + wins_b) / (pilots * world.size)
    )
    theta = float(np.mean([run.true_difference for run in runs]))
    sd = math.sqrt(np.mean([d.std_error**2 * d.users for d in diffs]))
    ctr_a, ctr_b = world.true_ctr(a), world.true_ctr(b)
    better = 0 if ctr_a > ctr_b else 1
    agrees = (
        prefs[0].winner == better
        and diffs[0].p_value < 0.05
        and ((diffs[0].difference > 0) == (better == 0))
    )
    ab_users, between = ab_users_needed(world, a, b, pilots, rng)
    figures = PairFigures(
        ab_users=ab_users,
        sign_users=sign.users,
        difference_users=credit_difference_users_needed(theta, sd),
        better=better,
        agrees=agrees,
    )
    pooled = wins_a / (wins_a + wins_b)
    head = f"interleaving: {a} vs {b}:"
    lines = [
        f"{head} true CTR {ctr_a:.4f} vs {ctr_b:.4f} ({ctr_b / ctr_a - 1:+.1%}), true credit "
        f"difference {theta:+.4f} clicks per impression; decisive users favouring {a} "
        f"{pooled:.3f} ({sign.decisive_share:.0%} of users decisive, {pilots} pilots of "
        f"{world.size:,} users); A/B on CTR needs {figures.ab_users:,} users at 80% power "
        f"({between:.0%} of its per-user variance between users)",
    ]
    for name, users in (
        ("sign test (preference per user, ties dropped)", sign.users),
        ("paired credit difference (user-clustered)", figures.difference_users),
    ):
        ratio = figures.ab_users / users
        # Below a 2% CTR difference the two tests measure different things (the credit
        # follows position bias and the draft as much as CTR): the ratio is shown, not judged.
        verdict = _verdict(ratio >= 10) if differs(world, a, b) else "NOT JUDGED (CTR within 2%)"
        lines.append(
            f"{head} {name} needs {users:,} users at 80% power: {ratio:.1f}x fewer than "
            f"A/B (target >= 10x) {verdict}"
        )
    return figures, lines


def differs(world: World, a: str, b: str) -> bool:
    """The pairs the targets judge: true CTRs more than 2% apart."""
    return abs(world.true_ctr(a) / world.true_ctr(b) - 1) > 0.02


def power_line(
    world: World, a: str, b: str, figures: PairFigures, replicates: int, rng, draft_key: str
) -> str:
    """Detections of the better ranker at the planned sizes, users resampled."""
    better = figures.better
    hits = {"sign": 0, "difference": 0, "ab": 0}
    for r in range(replicates):
        rows = rng.integers(0, world.size, figures.sign_users)
        run = interleave(world, a, b, rows, f"{SEED}-power-sign{r}", rng, draft_key=draft_key)
        hits["sign"] += preference_test(run.table).winner == better
        rows = rng.integers(0, world.size, figures.difference_users)
        run = interleave(world, a, b, rows, f"{SEED}-power-diff{r}", rng, draft_key=draft_key)
        diff = credit_difference(run.table)
        hits["difference"] += diff.p_value < 0.05 and (diff.difference > 0) == (better == 0)
        rows = rng.integers(0, world.size, figures.ab_users)
        half = len(rows) // 2
        test = ratio_metric_test(
            ab_clicks(world, a, rows[:half], rng), ab_clicks(world, b, rows[half:], rng)
        )
        hits["ab"] += test.p_value < 0.05 and (test.absolute_effect < 0) == (better == 0)
    power = {name: count / replicates for name, count in hits.items()}
    ok = all(abs(value - 0.8) <= 0.05 for value in power.values())
    return (
        f"interleaving: power at the planned sizes ({a} vs {b}, {replicates} experiments "
        f"on resampled users each): sign test {power['sign']:.0%} at "
        f"{figures.sign_users:,} users, credit difference {power['difference']:.0%} at "
        f"{figures.difference_users:,}, A/B {power['ab']:.0%} at {figures.ab_users:,} "
        f"(target 80% +- 5% each) {_verdict(ok)}"
    )


def aa_line(world: World, replicates: int, users: int, rng, draft_key: str) -> str:
    """The pipeline on both teams: how often each test rejects, and the pooled preference."""
    sign_rejections = difference_rejections = wins_a = decided = 0
    for r in range(replicates):
        rows = rng.integers(0, world.size, users)
        run = interleave(
            world, "pipeline", "pipeline", rows, f"{SEED}-aa{r}", rng, draft_key=draft_key
        )
        pref = preference_test(run.table)
        sign_rejections += pref.p_value < 0.05
        difference_rejections += credit_difference(run.table).p_value < 0.05
        wins_a += pref.wins_a
        decided += pref.wins_a + pref.wins_b
    sign_rate, difference_rate = sign_rejections / replicates, difference_rejections / replicates
    low, high = wilson_interval(wins_a, decided, 0.05)
    ok = all(abs(rate - 0.05) <= 0.015 for rate in (sign_rate, difference_rate))
    return (
        f"interleaving: A/A (pipeline on both teams), {replicates} experiments of {users} "
        f"resampled users: false-positive rate sign test {sign_rate:.1%}, credit difference "
        f"{difference_rate:.1%} (target 5% +- 1.5% each); pooled preference "
        f"{wins_a / decided:.3f} [{low:.3f}, {high:.3f}] (target: covers 0.5) "
        f"{_verdict(ok and low <= 0.5 <= high)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller world and fewer runs")
    parser.add_argument("--population", choices=("generated", "ml1m"), default="generated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--draft-key",
        choices=("user", "session"),
        default="user",
        help="one team draft per user (as served) or a fresh one per session (a what-if)",
    )
    args = parser.parse_args(argv)
    quick = args.quick and os.environ.get("SPLITLAB_FULL") != "1"
    size = SIZES["quick" if quick else "full"]
    rng = np.random.default_rng(args.seed)
    try:
        world, line = build_world(size, args.population, rng)
    except FileNotFoundError as error:
        print(f"interleaving: {error}", file=sys.stderr)
        return 2
    print(f"{line}; interleaved lists drafted once per {args.draft_key}", flush=True)
    agreement, figures = [], {}
    for a, b in PAIRS:
        figures[a, b], lines = pair_figures(world, a, b, size["pilots"], rng, args.draft_key)
        print("\n".join(lines), flush=True)
        if differs(world, a, b):
            agreement.append(figures[a, b].agrees)
    print(
        f"interleaving: both tests prefer the ranker with the higher true CTR in "
        f"{sum(agreement)} of {len(agreement)} pairs differing by more than 2% "
        f"(target: all) "
        f"{_verdict(all(agreement)) if agreement else 'NOT JUDGED (no pair differs by 2%)'}",
        flush=True,
    )
    pair = figures[POWER_PAIR]
    print(power_line(world, *POWER_PAIR, pair, size["power"], rng, args.draft_key), flush=True)
    print(aa_line(world, size["aa"], size["aa_users"], rng, args.draft_key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
