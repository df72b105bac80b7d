"""Interleaving against A/B testing on this benchmark's own synthetic click model.

NOT the project's user simulator (built separately): the population lives in this file.
Each user has ``POOL`` candidate items with base relevance ``Beta(1.2, 8)``, scaled by a
personal click propensity ``LogNormal(0, 0.8)`` (users differ a lot in how much they click),
and sees ``1 + Poisson(3)`` pages of ``K`` items. A click at position ``j`` on item ``i``
happens with probability ``EXAMINATION[j] * relevance[i]`` (position-based model). Rankers
sort each user's pool by ``logit(base relevance)`` plus per-user noise: *good* (sd 0.5),
*medium* (1.0), *poor* (2.0), and *good, degraded top* (good's list with its first item
moved to position 6). A page of an interleaving experiment is ``team_draft`` of the two
rankers' lists (a fresh draft per page, keyed by the request), its clicks credited by
``credit_table`` and tested by ``preference_test``, all from ``analytics.interleaving``.

Lines (figure, target, PASS/MISS):
- A/A (one ranker on both teams): false-positive rate of the preference test over
  ``--replicates`` (target 5% +- 1.5%) and the pooled preference's interval around 50%;
- per pair: users needed at 80% power (alpha 0.05) by interleaving, planned from a pilot
  (``plan_from_pilot``), against an A/B test on CTR on the same population (per-user
  clicks-per-page linearised as a ratio metric, ``sample_size_means``, with the exact true
  CTR difference); target at least 10x fewer;
- power check: for one pair, the share of fresh populations of the planned sizes in which
  each test detects the better ranker (target 80% +- 5%, both);
- agreement: interleaving prefers the ranker with the higher true CTR in every pair whose
  true relative difference exceeds 2%.

The ratio is a property of the model as much as of the method: it grows with the spread of
users' click propensities (which inflates the A/B variance and cancels within a user's
interleaved page) and with pages per user; these were fixed before the first run, not tuned.

    python benchmarks/interleaving.py [--quick] [--users N] [--replicates R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.interleaving import (  # noqa: E402
    Impression,
    credit_table,
    plan_from_pilot,
    preference_test,
    team_draft,
    wilson_interval,
)
from analytics.stats import ratio_metric_test, sample_size_means  # noqa: E402

POOL, K = 30, 10
EXAMINATION = 1 / np.arange(1, K + 1) ** 0.8
RANKERS = {"good": 0.5, "medium": 1.0, "poor": 2.0}
PAIRS = [("good", "medium"), ("medium", "poor"), ("good", "good, degraded top")]
SEED = "benchmark-interleaving"


class Population:
    """Users, their relevance, their pages, and each ranker's list for each user."""

    def __init__(self, users: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        base = rng.beta(1.2, 8.0, (users, POOL))
        propensity = rng.lognormal(0.0, 0.8, (users, 1))
        self.relevance = np.clip(base * propensity, 0.0, 1.0)
        self.pages = 1 + rng.poisson(3.0, users)
        logit = np.log(base / (1 - base))
        self.lists = {
            name: np.argsort(-(logit + rng.normal(0, sd, logit.shape)), axis=1)[:, :K]
            for name, sd in RANKERS.items()
        }
        good = self.lists["good"]
        self.lists["good, degraded top"] = np.concatenate(
            [good[:, 1:6], good[:, :1], good[:, 6:]], axis=1
        )

    @property
    def size(self) -> int:
        return len(self.pages)

    def expected_clicks(self, ranker: str) -> np.ndarray:
        """Exact expected clicks of one page, per user."""
        shown = np.take_along_axis(self.relevance, self.lists[ranker], axis=1)
        return shown @ EXAMINATION

    def true_ctr(self, ranker: str) -> float:
        """Expected clicks per page over the population's pages."""
        return float(np.sum(self.pages * self.expected_clicks(ranker)) / np.sum(self.pages))

    def ab_clicks(self, ranker: str) -> np.ndarray:
        """Each user's clicks over their pages when served ``ranker`` alone."""
        shown = np.take_along_axis(self.relevance, self.lists[ranker], axis=1) * EXAMINATION
        return self.rng.binomial(self.pages[:, None], shown).sum(axis=1).astype(float)

    def interleave(self, a: str, b: str, tag: str = "") -> list[Impression]:
        impressions = []
        for user in range(self.size):
            rankings = [self.lists[a][user].tolist(), self.lists[b][user].tolist()]
            for page in range(self.pages[user]):
                key = f"{tag}u{user}-p{page}"
                served = team_draft(rankings, length=K, seed=SEED, key=key)
                shown = list(served.items)
                p = self.relevance[user, shown] * EXAMINATION[: len(shown)]
                hits = self.rng.random(len(p)) < p
                clicked = [item for item, hit in zip(shown, hits, strict=True) if hit]
                impressions.append(Impression(f"u{user}", served, clicked))
        return impressions


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def aa_line(users: int, replicates: int) -> str:
    rejections, wins_a, decided = 0, 0, 0
    for replicate in range(replicates):
        population = Population(users, seed=10_000 + replicate)
        table = credit_table(population.interleave("medium", "medium", tag=f"r{replicate}"))
        result = preference_test(table)
        rejections += result.p_value < 0.05
        wins_a += result.wins_a
        decided += result.wins_a + result.wins_b
    rate = rejections / replicates
    pooled = wilson_interval(wins_a, decided, 0.05)
    covers = pooled[0] <= 0.5 <= pooled[1]
    return (
        f"interleaving: A/A false-positive rate {rate:.1%} over {replicates} replicates of "
        f"{users} users (target 5% +- 1.5%); pooled preference {wins_a / decided:.3f} "
        f"[{pooled[0]:.3f}, {pooled[1]:.3f}] (target: covers 0.5) "
        f"{_verdict(abs(rate - 0.05) <= 0.015 and covers)}"
    )


def ab_users(population: Population, a: str, b: str) -> int:
    """Total users of an A/B test on clicks per page (ratio metric, delta method)."""
    pages = population.pages.astype(float)
    variances = []
    for ranker in (a, b):
        clicks = population.ab_clicks(ranker)
        ctr = clicks.sum() / pages.sum()
        linearised = (clicks - ctr * pages) / pages.mean()  # per-user influence on the CTR
        variances.append(linearised.var(ddof=1))
    delta = population.true_ctr(b) - population.true_ctr(a)
    std = float(np.sqrt(np.mean(variances)))
    return sample_size_means(std, abs(delta)).total


def pair_lines(users: int) -> tuple[list[str], dict[tuple[str, str], tuple[int, int]]]:
    """The lines of every pair, and each pair's planned (interleaving, A/B) users."""
    population = Population(users, seed=1)
    lines, agree, sizes = [], [], {}
    for a, b in PAIRS:
        table = credit_table(population.interleave(a, b))
        result = preference_test(table)
        plan = plan_from_pilot(table)
        ab_total = ab_users(population, a, b)
        ratio = ab_total / plan.users
        sizes[a, b] = (plan.users, ab_total)
        ctr_a, ctr_b = population.true_ctr(a), population.true_ctr(b)
        better = 0 if ctr_a > ctr_b else 1
        if abs(ctr_a / ctr_b - 1) > 0.02:
            agree.append(result.winner == better)
        lines.append(
            f"interleaving: {a} vs {b}: true CTR {ctr_a:.4f} vs {ctr_b:.4f} "
            f"({ctr_b / ctr_a - 1:+.1%}); preference for {a} {result.preference_a:.3f} "
            f"(p={result.p_value:.2g}, {len(table.users)}-user pilot); users at 80% power: "
            f"interleaving {plan.users}, A/B {ab_total}, ratio {ratio:.1f}x "
            f"(target >= 10x) {_verdict(ratio >= 10)}"
        )
    lines.append(
        f"interleaving: preferred ranker has the higher true CTR in {sum(agree)} of "
        f"{len(agree)} pairs differing by more than 2% (target: all) {_verdict(all(agree))}"
    )
    return lines, sizes


def power_line(a: str, b: str, il_users: int, ab_users_total: int, replicates: int) -> str:
    """Detections of the better ranker at the planned sizes over fresh populations: the
    interleaving sign test, and the A/B ratio test on CTR (half the users per arm)."""
    il_hits = ab_hits = 0
    for replicate in range(replicates):
        population = Population(il_users, seed=50_000 + replicate)
        better = 0 if population.true_ctr(a) > population.true_ctr(b) else 1
        table = credit_table(population.interleave(a, b, tag=f"power{replicate}"))
        il_hits += preference_test(table).winner == better
        population = Population(ab_users_total, seed=90_000 + replicate)
        half = ab_users_total // 2
        pages = population.pages.astype(float)
        control = (population.ab_clicks(a)[:half], pages[:half])
        treatment = (population.ab_clicks(b)[half:], pages[half:])
        result = ratio_metric_test(control, treatment)
        ab_hits += result.p_value < 0.05 and (result.absolute_effect < 0) == (better == 0)
    il_power, ab_power = il_hits / replicates, ab_hits / replicates
    ok = abs(il_power - 0.8) <= 0.05 and abs(ab_power - 0.8) <= 0.05
    return (
        f"interleaving: power at the planned sizes ({a} vs {b}, {replicates} fresh "
        f"populations each): interleaving {il_power:.0%} at {il_users} users, A/B "
        f"{ab_power:.0%} at {ab_users_total} users (target 80% +- 5% each) {_verdict(ok)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller pilots and A/A runs")
    parser.add_argument("--users", type=int, default=None, help="pilot users per pair")
    parser.add_argument("--replicates", type=int, default=None, help="A/A replicates")
    args = parser.parse_args(argv)
    users = args.users or (2_000 if args.quick else 20_000)
    replicates = args.replicates or (200 if args.quick else 500)
    print("interleaving: figures on this benchmark's own synthetic position-based click model")
    lines, sizes = pair_lines(users)
    for line in lines:
        print(line, flush=True)
    print(power_line("medium", "poor", *sizes["medium", "poor"], 50 if args.quick else 200))
    print(aa_line(100 if args.quick else 200, replicates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
