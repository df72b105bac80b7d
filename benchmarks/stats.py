"""Benchmark: analyse 1,000 variant-metric pairs from sufficient statistics.

A report of many experiments, each variant against control on several metrics, sends the
statistics engine per-variant sums (users, sum x, sum x^2, and for ratio metrics sum y,
sum y^2, sum xy; a third of the pairs carry CUPED covariate sums). This script builds 1,000
such pairs (a third proportions, a third means with one CUPED covariate, a third CTR-like
ratios adjusted for two covariates, the pre-period clicks and impressions, by the
delta-method regression), then times ``analyze_many`` end to end: from the list of
``SufficientStats`` and ``CovariateSums`` the report holds to the list of ``MetricAnalysis``
results, sequential p-values, degenerate-data checks and the Bayesian chance to win and risk
(GrowthBook's Gaussian effect posterior, with an informative prior) included. It prints
one line with the median over the runs, the target (50 ms) and PASS/MISS.

    python benchmarks/stats.py [--quick] [--pairs N] [--runs R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.stats import CovariateSums, SufficientStats, analyze_many  # noqa: E402
from analytics.stats.bayes_effect import EffectPrior  # noqa: E402

TARGET_MS = 50.0


# Per-user covariance of (clicks, impressions, pre-period clicks, pre-period impressions).
_CTR_SD = np.array([1.2, 6.0, 1.2, 6.0])
_CTR_CORR = np.array(
    [[1.0, 0.6, 0.5, 0.4], [0.6, 1.0, 0.4, 0.7], [0.5, 0.4, 1.0, 0.6], [0.4, 0.7, 0.6, 1.0]]
)


def _ctr_group(rng, n: int, lift: float) -> tuple[SufficientStats, CovariateSums]:
    """A CTR arm's sums with its pre-period clicks and impressions as covariates."""
    mean = np.array([0.6 * lift, 12.0, 0.6, 12.0]) + rng.normal(0, _CTR_SD / np.sqrt(n))
    cross = (n - 1) * _CTR_CORR * np.outer(_CTR_SD, _CTR_SD) + n * np.outer(mean, mean)
    sums = n * mean
    plain = SufficientStats(n, sums[0], cross[0, 0], sums[1], cross[1, 1], cross[0, 1])
    return plain, CovariateSums(n, sums, cross, ratio=True)


def build_pairs(pairs: int, seed: int = 0):
    """Kinds, per-variant sums and covariate sums of ``pairs`` metric pairs, as a report
    would hold them (ratio pairs carry two covariates; the others none)."""
    rng = np.random.default_rng(seed)
    kinds, control, treatment = [], [], []
    covariates: tuple[list, list] = ([], [])
    for i in range(pairs):
        kind = ("proportion", "mean", "ratio")[i % 3]
        groups, adjusted = [], []
        for lift in (1.0, float(rng.uniform(0.95, 1.08))):
            n = int(rng.integers(1_000, 200_000))
            if kind == "proportion":
                groups.append(SufficientStats(n, int(rng.binomial(n, 0.08 * lift))))
                adjusted.append(None)
            elif kind == "mean":
                mean, std = 30.0 * lift, 45.0
                sum_x = mean * n + rng.normal(0, std * np.sqrt(n))
                sum_x2 = (std**2 + mean**2) * n
                pre = 0.6 * sum_x
                groups.append(
                    SufficientStats(n, sum_x, sum_x2, sum_c=pre, sum_c2=0.5 * sum_x2,
                                    sum_xc=0.55 * sum_x2)
                )  # fmt: skip
                adjusted.append(None)
            else:
                plain, with_covariates = _ctr_group(rng, n, lift)
                groups.append(plain)
                adjusted.append(with_covariates)
        kinds.append(kind)
        control.append(groups[0])
        treatment.append(groups[1])
        covariates[0].append(adjusted[0])
        covariates[1].append(adjusted[1])
    return kinds, control, treatment, covariates


def run(pairs: int, runs: int) -> float:
    """Median milliseconds of one full analysis of ``pairs`` pairs over ``runs`` runs."""
    kinds, control, treatment, covariates = build_pairs(pairs)
    options = {
        "sequential": True,
        "bayesian_effect": True,
        "prior": EffectPrior(0.0, 0.3**2, proper=True),
        "control_covariates": covariates[0],
        "treatment_covariates": covariates[1],
    }
    analyze_many(kinds, control, treatment, **options).results()  # warm up
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        results = analyze_many(kinds, control, treatment, **options).results()
        timings.append((time.perf_counter() - start) * 1000)
        assert len(results) == pairs
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (same 1,000 pairs)")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 31)
    median_ms = run(args.pairs, runs)
    verdict = "PASS" if median_ms <= TARGET_MS else "MISS"
    print(
        f"stats: {args.pairs} variant-metric pairs analysed in {median_ms:.1f} ms "
        f"(median of {runs} runs; target <= {TARGET_MS:.0f} ms) {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
