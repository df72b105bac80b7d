"""Benchmark: family-wise false positives of segment breakdowns over many A/A experiments.

Each simulated A/A experiment splits its users 50/50 with no effect and breaks them down into
``--segments`` values (unequal sizes); every value is analysed by the report's own code
(:func:`analytics.reports.segments.analyze_segments`, conversion rate as the primary metric).
It counts the experiments in which *any* segment is called significant: with the Holm
correction across the segments that rate must stay at most alpha (5%, plus 1.5 points of
simulation error at full size); without it, it grows to about ``1 - 0.95^k`` (34% for 8).
It also counts the SRM alarms across segments (target: at most 0.1% + the simulation error).

    python benchmarks/segments.py [--quick] [--experiments 2000] [--segments 8] [--users 4000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ALPHA = 0.05
TOLERANCE = 0.015
BASE_RATE = 0.1


@dataclass
class FamilyWiseRates:
    experiments: int
    segments: int
    corrected: float  # share of experiments with some segment significant after Holm
    uncorrected: float  # the same on the raw p-values
    srm_alarms: float  # share of experiments with an SRM flagged in some segment
    seconds: float


def aa_segment_sums(
    rng: np.random.Generator, segments: int, users: int, arm_ids: tuple[int, int]
) -> dict[str, dict[int, dict[str, float]]]:
    """One A/A experiment's sums per segment value and arm, as the rollup names them
    (conversion rate: ``n``, ``converted``; no pre-period covariate)."""
    shares = rng.dirichlet(np.full(segments, 3.0))
    sizes = rng.multinomial(users, shares)
    out = {}
    for index, size in enumerate(sizes):
        in_control = int(rng.binomial(size, 0.5))
        arms = {}
        for arm, n in zip(arm_ids, (in_control, int(size) - in_control), strict=True):
            converted = float(rng.binomial(n, BASE_RATE))
            arms[arm] = {"n": float(n), "converted": converted}
        out[f"s{index}"] = arms
    return out


def _below(p_value: float | None) -> bool:
    return p_value is not None and p_value < ALPHA


def simulate_family_wise(
    experiment, *, experiments: int, segments: int, users: int, seed: int = 0
) -> FamilyWiseRates:
    """Run ``experiments`` A/A breakdowns of ``experiment`` (two variants, a conversion-rate
    primary metric, relations prefetched) and count the experiments with any false call."""
    from analytics.reports.segments import analyze_segments

    rng = np.random.default_rng(seed)
    control, treatment = sorted(experiment.variants.all(), key=lambda v: not v.is_control)
    now = datetime.now(UTC)
    corrected = uncorrected = srm = 0
    began = time.perf_counter()
    for _ in range(experiments):
        sums = aa_segment_sums(rng, segments, users, (control.id, treatment.id))
        breakdown = analyze_segments(experiment, 1, "segment", sums, now=now)
        rows = [row for value in breakdown.values for row in value.primary]
        corrected += any(_below(r.adjusted_p_value) for r in rows)
        uncorrected += any(_below(r.series.p_value) for r in rows)
        srm += bool(breakdown.srm_flagged)
    return FamilyWiseRates(
        experiments,
        segments,
        corrected / experiments,
        uncorrected / experiments,
        srm / experiments,
        time.perf_counter() - began,
    )


def aa_experiment():
    """A running A/A experiment with conversion rate as its primary metric, relations
    prefetched (the simulation then makes no query)."""
    from experiments import services
    from experiments.models import Experiment, MetricDefinition

    experiment = services.do_create_experiment(
        key="segments-aa",
        name="Segments A/A",
        variants=[{"key": "control", "is_control": True}, {"key": "treatment"}],
        primary_metric=MetricDefinition.objects.get(key="conversion_rate"),
        alpha=ALPHA,
    )
    services.do_start_experiment(experiment, None)
    return (
        Experiment.objects.select_related("primary_metric")
        .prefetch_related("variants", "phases", "guardrail_metrics", "secondary_metrics")
        .get(pk=experiment.pk)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 200 experiments")
    parser.add_argument("--experiments", type=int, default=2000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--users", type=int, default=4000)
    args = parser.parse_args()
    if args.quick:
        args.experiments = 200
    from benchmarks.pages import configure

    with tempfile.TemporaryDirectory(prefix="splitlab-segments-") as var_dir:
        configure(var_dir, None)
        rates = simulate_family_wise(
            aa_experiment(), experiments=args.experiments, segments=args.segments, users=args.users
        )
    bound = ALPHA + TOLERANCE
    verdict = "PASS" if rates.corrected <= bound and rates.srm_alarms <= 0.001 + 0.0015 else "MISS"
    print(
        f"segments: A/A over {rates.experiments} experiments x {rates.segments} segments: "
        f"any segment significant {100 * rates.corrected:.1f}% with Holm "
        f"({100 * rates.uncorrected:.1f}% uncorrected), SRM alarms {100 * rates.srm_alarms:.1f}% "
        f"in {rates.seconds:.1f} s (target <= {100 * bound:.1f}% and <= 0.25%) {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
