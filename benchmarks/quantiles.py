"""Benchmark: differences of quantiles on heavy-tailed, user-clustered data (simulations).

Every simulated experiment has two arms of users; each user has 1 + Poisson(4) events whose
values are log-normal with a per-user random effect (``exp(3 + u + e)``, ``u ~ N(0, 1)``,
``e ~ N(0, 0.5)``: strongly correlated within a user, heavy right tail), so the true
event-level quantile is known (``exp(3 + sqrt(1.25) z_p)``). Per-user rows use one log-normal
value per user. ``analytics.stats.quantile_difference`` compares the arms (with the users as
clusters for events). It prints one line per figure, with its target and PASS/MISS:

* A/A false positives at alpha 5 % (target 5 % +- 1.5), for p50 and p90, events and per user;
* coverage of the true difference and of the true relative difference (+10 %) by the 95 %
  intervals (target 93-97 %);
* the same A/A with the clusters ignored (target: above 6.5 %, i.e. the naive interval is
  invalid: why the clustered variance matters);
* sequential A/A over 14 daily looks with the always-valid p-value (target <= 5 %);
* the cost of one look of a report row over 100,000 users per arm (target <= 100 ms).

    python benchmarks/quantiles.py [--quick] [--replicates N]

``--quick`` (the test suite): 200 replicates; full size (``make bench``): 2,000.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.stats import always_valid_history, quantile_difference  # noqa: E402

USERS = 400
SD_USER, SD_EVENT = 1.0, 0.5
LIFT = 0.10
DAYS, DAILY_USERS = 14, 60


def clustered(rng: np.random.Generator, users: int) -> tuple[np.ndarray, np.ndarray]:
    counts = 1 + rng.poisson(4, users)
    labels = np.repeat(np.arange(users), counts)
    effect = rng.normal(0, SD_USER, users)
    return np.exp(3 + effect[labels] + rng.normal(0, SD_EVENT, labels.size)), labels


def per_user(rng: np.random.Generator, users: int) -> tuple[np.ndarray, None]:
    return np.exp(3 + rng.normal(0, math.hypot(SD_USER, SD_EVENT), users)), None


def true_quantile(quantile: float) -> float:
    return math.exp(3 + math.hypot(SD_USER, SD_EVENT) * stats.norm.ppf(quantile))


def simulate(replicates: int, quantile: float, draw, lift: float, *, seed: int, clusters=True):
    """(false positive or power rate, absolute coverage, relative coverage)."""
    rng = np.random.default_rng(seed)
    truth = lift * true_quantile(quantile)
    rejected = covered = covered_relative = 0
    for _ in range(replicates):
        c, c_users = draw(rng, USERS)
        t, t_users = draw(rng, USERS)
        result = quantile_difference(
            c, t * (1 + lift), quantile=quantile,
            control_clusters=c_users if clusters else None,
            treatment_clusters=t_users if clusters else None,
        )  # fmt: skip
        rejected += result.p_value < 0.05
        covered += result.absolute_ci[0] <= truth <= result.absolute_ci[1]
        covered_relative += result.relative_ci[0] <= lift <= result.relative_ci[1]
    return rejected / replicates, covered / replicates, covered_relative / replicates


def sequential_aa(replicates: int, quantile: float, *, seed: int) -> float:
    """Share of A/A experiments that some daily look calls significant (always-valid p)."""
    rng = np.random.default_rng(seed)
    planned = 2 * DAYS * DAILY_USERS
    false = 0
    for _ in range(replicates):
        arms = [clustered(rng, DAYS * DAILY_USERS) for _ in range(2)]
        effects, variances, totals = [], [], []
        for day in range(1, DAYS + 1):
            users = day * DAILY_USERS
            (c, cl), (t, tl) = ((v[lab < users], lab[lab < users]) for v, lab in arms)
            result = quantile_difference(
                c, t, quantile=quantile, control_clusters=cl, treatment_clusters=tl
            )
            if result.enough_data:
                effects.append(result.absolute_effect)
                variances.append(result.std_error**2)
                totals.append(2 * users)
        history = always_valid_history(effects, variances, totals, planned_total=planned)
        false += history.p_values[-1] < 0.05
    return false / replicates


def look_ms(users: int, runs: int) -> float:
    rng = np.random.default_rng(9)
    c, t = per_user(rng, users)[0], per_user(rng, users)[0]
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        quantile_difference(c, t, quantile=0.9, sequential=True)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def line(name: str, value: float, target: str, ok: bool, unit: str = "%") -> None:
    shown = f"{100 * value:.1f}%" if unit == "%" else f"{value:.1f} {unit}"
    print(f"quantiles: {name} {shown} (target {target}) {'PASS' if ok else 'MISS'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 replicates")
    parser.add_argument("--replicates", type=int, default=None)
    args = parser.parse_args(argv)
    replicates = args.replicates or (200 if args.quick else 2_000)
    seed = 0
    for quantile in (0.5, 0.9):
        label = f"p{round(100 * quantile)}"
        for unit, draw in (("events clustered by user", clustered), ("per user", per_user)):
            seed += 1
            fp, _, _ = simulate(replicates, quantile, draw, 0.0, seed=seed)
            seed += 1
            _, cover, cover_rel = simulate(replicates, quantile, draw, LIFT, seed=seed)
            where = f"{label}, {unit}, {replicates} replicates:"
            line(f"A/A false positives {where}", fp, "5% +- 1.5", abs(fp - 0.05) <= 0.015)
            line(f"coverage of the difference {where}", cover, "93-97%", 0.93 <= cover <= 0.97)
            line(
                f"coverage of the relative difference {where}", cover_rel, "93-97%",
                0.93 <= cover_rel <= 0.97,
            )  # fmt: skip
    fp, _, _ = simulate(replicates, 0.5, clustered, 0.0, seed=99, clusters=False)
    line(
        f"A/A false positives with the clusters ignored, p50, {replicates} replicates:", fp,
        "> 6.5%: the naive interval is invalid", fp > 0.065,
    )  # fmt: skip
    sequential_replicates = max(replicates // 4, 200)
    fp = sequential_aa(sequential_replicates, 0.5, seed=100)
    line(
        f"sequential A/A false positives over {DAYS} daily looks, p50, events, "
        f"{sequential_replicates} replicates:", fp, "<= 5%", fp <= 0.05,
    )  # fmt: skip
    ms = look_ms(100_000, 5 if args.quick else 21)
    line("one look of a p90 row over 100,000 users per arm:", ms, "<= 100 ms", ms <= 100, "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
