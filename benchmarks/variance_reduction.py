"""Benchmark: CUPED for ratios, CUPED with several covariates and winsorisation, simulated.

Each method runs on many seeded experiments of simulated users (clustered impressions and
clicks with a pre-period; watch times with two pre-period covariates; heavy-tailed,
pre-period-correlated watch times) through the report's own entry point, ``analyze_many``:

* A/A: the share of experiments called significant at alpha 0.05 (target 5% +- 1.5%);
* with a true effect: the share of 95% intervals that cover it (target 93-97%); for
  winsorised means the effect is the difference of the capped means at the population's
  pooled percentile (computed exactly from the log-normal distribution);
* the variance ratio: the variance of the method's effect estimates across the A/A
  experiments over that of the plain estimator's (below 1: the method's gain).

One line per figure with its target and PASS/MISS.

    python benchmarks/variance_reduction.py [--quick]   # SPLITLAB_FULL=1: 10,000 experiments
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.stats import CovariateSums, analyze_many, winsorization_cap  # noqa: E402

ALPHA = 0.05
FALSE_POSITIVES = (0.035, 0.065)
COVERAGE = (0.93, 0.97)


@dataclass(frozen=True)
class Figures:
    """One method's simulated error rates and its variance ratio against the plain test."""

    method: str
    false_positive_rate: float
    coverage: float
    variance_ratio: float

    @property
    def passed(self) -> bool:
        return (
            FALSE_POSITIVES[0] <= self.false_positive_rate <= FALSE_POSITIVES[1]
            and COVERAGE[0] <= self.coverage <= COVERAGE[1]
            and self.variance_ratio < 1
        )


def _sums(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per experiment, ``sum v`` and ``sum v v'`` of per-user vectors ``v`` (E, d, U)."""
    return v.sum(axis=2), np.einsum("edu,efu->edf", v, v)


def _covariate_sums(v: np.ndarray, ratio: bool) -> list[CovariateSums]:
    sums, cross = _sums(v)
    users = v.shape[2]
    return [CovariateSums(users, s, c, ratio=ratio) for s, c in zip(sums, cross, strict=True)]


def _columns(x: np.ndarray, y: np.ndarray | None = None, c: np.ndarray | None = None) -> dict:
    """Sufficient-statistics columns of per-user arrays (E, U)."""
    cols = {
        "n": np.full(x.shape[0], float(x.shape[1])),
        "sum_x": x.sum(1),
        "sum_x2": (x * x).sum(1),
    }
    for name, other in (("y", y), ("c", c)):
        if other is not None:
            cols[f"sum_{name}"] = other.sum(1)
            cols[f"sum_{name}2"] = (other * other).sum(1)
            cols[f"sum_x{name}"] = (x * other).sum(1)
    return cols


# --- the three simulated populations ------------------------------------------------------


def _ctr_arm(rng, experiments: int, users: int, lift: float):
    """Clicks and impressions per user (activity and click propensity persist across the
    pre-period and the experiment), and the pre-period's clicks and impressions."""
    activity = rng.gamma(1.5, 1.0, (experiments, users))
    propensity = rng.beta(1, 9, (experiments, users))  # mean CTR 10 %, uneven across users
    imp = rng.poisson(8 * activity) + 1.0
    pre_imp = rng.poisson(8 * activity).astype(float)
    clk = rng.binomial(imp.astype(int), np.minimum(propensity * lift, 1.0)).astype(float)
    pre_clk = rng.binomial(pre_imp.astype(int), propensity).astype(float)
    return clk, imp, np.stack([clk, imp, pre_clk, pre_imp], axis=1)


def ratio_cuped(experiments: int, users: int, seed: int = 1) -> Figures:
    """CTR with the pre-period clicks and impressions as covariates (delta method)."""
    rng = np.random.default_rng(seed)
    runs = {}
    for lift in (1.0, 1.05):
        c_clk, c_imp, c_v = _ctr_arm(rng, experiments, users, 1.0)
        t_clk, t_imp, t_v = _ctr_arm(rng, experiments, users, lift)
        args = ("ratio", _columns(c_clk, c_imp), _columns(t_clk, t_imp))
        runs[lift] = (
            analyze_many(*args).columns,
            analyze_many(
                *args,
                control_covariates=_covariate_sums(c_v, True),
                treatment_covariates=_covariate_sums(t_v, True),
            ).columns,
        )
    truth = 0.1 * (1.05 - 1.0)  # E[clicks] / E[impressions] = lift * E[propensity]
    return _figures("CUPED for a ratio (CTR; pre-period clicks, impressions)", runs, truth)


def _watch_arm(rng, experiments: int, users: int, shift: float):
    c1 = rng.gamma(2.0, 10.0, (experiments, users))  # pre-period watch minutes
    c2 = rng.normal(5.0, 2.0, (experiments, users))  # pre-period sessions
    x = 4.0 + 0.8 * c1 + 1.5 * c2 + rng.gamma(2.0, 4.0, (experiments, users)) + shift
    return x, np.stack([x, c1, c2], axis=1)


def multi_covariate_cuped(experiments: int, users: int, seed: int = 2) -> Figures:
    """A mean with two covariates (the pre-period metric and a second pre-period amount)."""
    rng = np.random.default_rng(seed)
    runs = {}
    for shift in (0.0, 1.0):
        c_x, c_v = _watch_arm(rng, experiments, users, 0.0)
        t_x, t_v = _watch_arm(rng, experiments, users, shift)
        args = ("mean", _columns(c_x), _columns(t_x))
        runs[shift] = (
            analyze_many(*args).columns,
            analyze_many(
                *args,
                control_covariates=_covariate_sums(c_v, False),
                treatment_covariates=_covariate_sums(t_v, False),
            ).columns,
        )
    return _figures("CUPED with 2 covariates (mean)", runs, 1.0)


# Heavy tail: log-normal watch seconds, sigma 1.6 (the top 1 % hold about a fifth of the
# total); the pre-period's log correlates 0.7 with the experiment's.
MU, SIGMA, RHO, PERCENTILE, LIFT = 4.0, 1.6, 0.7, 0.99, 1.10


def _heavy_arm(rng, experiments: int, users: int, lift: float):
    shared = rng.standard_normal((experiments, users))
    own = rng.standard_normal((experiments, users))
    pre = np.exp(
        MU + SIGMA * (RHO * shared + np.sqrt(1 - RHO**2) * rng.standard_normal(shared.shape))
    )
    return lift * np.exp(MU + SIGMA * (RHO * shared + np.sqrt(1 - RHO**2) * own)), pre


def _capped_mean(mu: float, cap: float) -> float:
    """``E[min(X, cap)]`` for ``log X ~ N(mu, SIGMA^2)`` (closed form)."""
    z = (np.log(cap) - mu) / SIGMA
    return float(np.exp(mu + SIGMA**2 / 2) * special.ndtr(z - SIGMA) + cap * special.ndtr(-z))


def winsorized_truth(lift: float = LIFT) -> float:
    """The winsorised effect: capped means at the pooled population percentile."""
    mu_t = MU + np.log(lift)

    def pooled_cdf(q: float) -> float:
        return 0.5 * special.ndtr((np.log(q) - MU) / SIGMA) + 0.5 * special.ndtr(
            (np.log(q) - mu_t) / SIGMA
        )

    cap = optimize.brentq(lambda q: pooled_cdf(q) - PERCENTILE, 1e-3, 1e9, xtol=1e-10)
    return _capped_mean(mu_t, cap) - _capped_mean(MU, cap)


def _winsorize_pairs(control: np.ndarray, treatment: np.ndarray):
    caps = np.array(
        [
            winsorization_cap(np.concatenate(pair), PERCENTILE)
            for pair in zip(control, treatment, strict=True)
        ]
    )
    return np.minimum(control, caps[:, None]), np.minimum(treatment, caps[:, None])


def winsorized_means(
    experiments: int, users: int, seed: int = 3, *, cuped: bool = False
) -> Figures:
    """Heavy-tailed means capped at the pooled 99th percentile (and CUPED on top)."""
    rng = np.random.default_rng(seed)
    runs = {}
    for lift in (1.0, LIFT):
        c_x, c_pre = _heavy_arm(rng, experiments, users, 1.0)
        t_x, t_pre = _heavy_arm(rng, experiments, users, lift)
        c_w, t_w = _winsorize_pairs(c_x, t_x)
        plain = analyze_many("mean", _columns(c_x), _columns(t_x), cuped=False).columns
        covariate = (np.log1p(c_pre), np.log1p(t_pre)) if cuped else (None, None)
        capped = analyze_many(
            "mean", _columns(c_w, c=covariate[0]), _columns(t_w, c=covariate[1]), cuped=cuped
        ).columns
        runs[lift] = (plain, capped)
    name = "winsorised mean (p99)" + (" with CUPED (pre-period)" if cuped else "")
    return _figures(name, runs, winsorized_truth())


def _figures(method: str, runs: dict, truth: float) -> Figures:
    (plain_aa, method_aa), (_, method_effect) = (runs[k] for k in sorted(runs))
    fp = float(np.mean(method_aa["p_value"] < ALPHA))
    covered = (method_effect["absolute_lower"] <= truth) & (
        truth <= method_effect["absolute_upper"]
    )
    ratio = float(np.var(method_aa["absolute_effect"]) / np.var(plain_aa["absolute_effect"]))
    return Figures(method, fp, float(np.mean(covered)), ratio)


SIMULATIONS: dict[str, Callable[..., Figures]] = {
    "ratio": ratio_cuped,
    "multi": multi_covariate_cuped,
    "winsorized": winsorized_means,
    "winsorized_cuped": lambda e, u: winsorized_means(e, u, seed=4, cuped=True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer experiments")
    args = parser.parse_args(argv)
    full = os.environ.get("SPLITLAB_FULL") == "1" and not args.quick
    experiments, users = (10_000, 1_000) if full else (300, 200) if args.quick else (2_000, 400)
    for simulate in SIMULATIONS.values():
        f = simulate(experiments, users)
        print(
            f"variance_reduction: {f.method}: {experiments} experiments x {users} users/arm: "
            f"A/A false positives {100 * f.false_positive_rate:.1f}% (target 5 +- 1.5%), "
            f"coverage {100 * f.coverage:.1f}% (target 93-97%), "
            f"variance ratio {f.variance_ratio:.3f} (target < 1) "
            f"{'PASS' if f.passed else 'MISS'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
