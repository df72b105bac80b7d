"""Benchmark: the whole loop against planted truth (issue 12), one line per figure.

    python benchmarks/simulation.py [--quick] [--server-url postgres://postgres@127.0.0.1:5432/postgres]
        [--only accounting,aa,coverage,power,sequential,guardrails,holdout,pipeline] [--seed 0]

What goes through HTTP and what does not:

1. accounting (HTTP, PostgreSQL, gunicorn): the simulator's clients drive the real API
   (recommendations assign and expose users, events in batches with ``request_id``; 10% of
   batches re-sent whole, 5% of events late, 2% duplicated, batches shuffled); after the
   rollup, the report's CSV export (staff login) must show exactly the ledger's exposed users,
   impressions, clicks, converted users, sessions, abandoned sessions and watch seconds.
2.-5. in process, no HTTP: hundreds of experiments need millions of simulated users, so the
   simulator's population plays its sessions in numpy, per-user totals are summed per arm
   exactly as the rollup sums them (``analytics.selectors.METRIC_SUMS``: n, x, x^2, y, y^2,
   xy and the CUPED covariate sums), users are split by the platform's GrowthBook hashing
   (``assignment.hashing.hash_many``, one seed per experiment), and the platform's own
   analysis runs on those sums: ``analyze_many`` (what the report calls), ``srm_test``,
   ``noninferiority_test``, and the planner's ``plan_experiment`` /
   ``sample_size_noninferiority`` / ``power_noninferiority``.
   2. A/A: experiments with different seeds on the same simulated traffic (14 days): the
      false-positive rate of CTR at the final look (target 5% +/- 1.5%), over 14 daily looks
      with always-valid p-values (target <= 5%), and the SRM alarm rate (target about 0.1%).
   3. coverage: fresh users per experiment, a planted +5% attraction lift; how often the 95%
      CI covers the true effect (a 400,000-user Monte Carlo with common random numbers) for
      conversion (proportion, CUPED), CTR (ratio, delta method), watch time (heavy-tailed
      mean, CUPED); target 93-97%.
   4. power: the planted effect equals the planner's MDE, the sample size is the planner's
      (``plan_experiment``: the pooled z-test the report runs); detection rate for 50/50 and
      90/10 (target 80% +/- 4 points; at --quick the replicate count is too small for that
      band to be decisive: the line says how many ran).
   4b. power in sequential mode (``--only sequential``): the same planted MDE, the planner's
      sequential size for 7 daily looks (``plan_experiment(sequential=True, looks=7)``:
      about 1.8 times the fixed size, where one look would need 1.9), the report
      read on each of 7 days with always-valid p-values (confidence sequence tuned to the
      planned total); detected when some look rejects with a positive effect (target
      80% +/- 4). The line also gives the final look alone.
   5. guardrails: time to first interaction with a 5% relative non-inferiority margin, at
      the planner's guardrail size (``sample_size_noninferiority``, one-sided alpha 5%, the
      test's own variance ``sigma^2 (1 + (1 + margin)^2)``), in two designs: fixed horizon
      (read once, at the end) and sequential (read on each of 7 days with the always-valid
      guardrail, at the planner's sequential size). A harm of twice the margin flagged
      (>= 80%), exactly the margin passed (<= 5%, at the end and on any daily read), no harm
      passed at the planner's promised power (``power_noninferiority``, +/- 4 points).
   6. holdout: two launches against a 5% permanent holdout; how often the holdout report's
      95% interval (holdout as control) covers the true cumulative CTR impact (93-97%).
7. recommenders in the loop (in process; ``benchmarks/_simulation_pipeline.py``): histories
   drawn from a generated population's planted tastes train ``pipeline`` (two-tower
   candidates and ranker, few epochs) and ``popular`` through the registry; each model serves
   every user's top-10 through ``recommend_one``; experiments split users by hashing, draw
   sessions and clicks from the click model on exactly the served lists, and analyse CTR with
   ``analyze_many("ratio")``; the true effect is exact (session-weighted mean of the planted
   click probabilities of each arm's lists). Replications redraw split, sessions and clicks
   over one training (20 at --quick, 200 full): the pipeline must win significantly in
   >= 90% of them and the 95% CI cover the truth no less often than 95% less two binomial
   standard errors.

Exit status 2 with "not found" when PostgreSQL is not reachable for figure 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.stats import (  # noqa: E402
    SufficientStats,
    analyze_many,
    noninferiority_test,
    plan_experiment,
    power_noninferiority,
    sample_size_noninferiority,
    srm_test,
)
from assignment.hashing import hash_many  # noqa: E402
from simulator.behaviour import NO_EFFECT, BehaviourModel, Effect  # noqa: E402
from simulator.population import generate_population  # noqa: E402
from simulator.traffic import (  # noqa: E402
    UserTotals,
    draw_traffic,
    fresh_users,
    personalised_policy,
    true_effects,
    user_totals,
)

MODEL = BehaviourModel()
K = 10
DAYS = 7.0
SIZES = {
    "quick": dict(accounting=60, aa_users=3000, aa=200, cov_users=1000, cov=100, power=25,
                  guard=25, truth=50_000, loop_users=1500, loop_items=300,
                  loop_epochs=3, loop=20),
    "full": dict(accounting=3000, aa_users=30000, aa=400, cov_users=8000, cov=400, power=400,
                 guard=400, truth=400_000, loop_users=3000, loop_items=400,
                 loop_epochs=5, loop=200),
}  # fmt: skip


def policy(pop, users, k, rng):
    return personalised_policy(pop, users, k, rng, noise=1.5)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


# --- sums per arm, as the rollup computes them ------------------------------------------------
def columns(totals: UserTotals, arm: np.ndarray, metric: str) -> dict[str, np.ndarray]:
    """Sufficient-statistic columns of ``metric`` for each row of the 0/1 matrix ``arm``
    (experiments x users), over exposed users (at least one session)."""
    arm = arm * (totals.sessions > 0)
    if metric == "ctr":
        x, y = totals.clicks, totals.impressions
        return {"n": arm.sum(1), "sum_x": arm @ x, "sum_x2": arm @ x**2, "sum_y": arm @ y,
                "sum_y2": arm @ y**2, "sum_xy": arm @ (x * y)}  # fmt: skip
    if metric == "conversion":
        x, c = (totals.conversions > 0) * 1.0, (totals.pre_conversions > 0) * 1.0
    elif metric == "watch":
        x, c = totals.watch_seconds, totals.pre_watch_seconds
    else:  # time to first interaction: users with one, their mean
        has = totals.first_interactions > 0
        x = np.where(has, np.nan_to_num(totals.tfi_mean), 0.0)
        return {"n": (arm * has).sum(1), "sum_x": arm @ x, "sum_x2": arm @ x**2}
    return {"n": arm.sum(1), "sum_x": arm @ x, "sum_x2": arm @ x**2, "sum_c": arm @ c,
            "sum_c2": arm @ c**2, "sum_xc": arm @ (x * c)}  # fmt: skip


KIND = {"ctr": "ratio", "conversion": "proportion", "watch": "mean", "tfi": "mean"}


def split(user_ids: np.ndarray, seeds: list[str], treatment_share: float = 0.5) -> np.ndarray:
    """1.0 where the user is in treatment, per experiment seed (GrowthBook hash v2)."""
    ids = user_ids.tolist()
    return np.stack([(hash_many(seed, ids, 2) < treatment_share) * 1.0 for seed in seeds])


def stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


# --- 2. A/A -----------------------------------------------------------------------------------
def figure_aa(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    days = 14.0
    pop = fresh_users(base, size["aa_users"], rng, "aa")
    traffic = draw_traffic(pop, days=days, k=K, policy=policy, rng=rng)
    treatment = split(pop.user_ids, [f"aa-{i}" for i in range(size["aa"])])
    final = user_totals(pop, MODEL, traffic)
    c, t = columns(final, 1 - treatment, "ctr"), columns(final, treatment, "ctr")
    p = analyze_many("ratio", c, t).columns["p_value"]
    false_positive = float(np.mean(p < 0.05))
    rejected_any = np.zeros(size["aa"], bool)
    for day in range(1, int(days) + 1):
        look = user_totals(pop, MODEL, traffic, until_day=float(day))
        cl, tl = columns(look, 1 - treatment, "ctr"), columns(look, treatment, "ctr")
        batch = analyze_many(
            "ratio", cl, tl, sequential=True, planned_total=int(final.sessions.astype(bool).sum())
        )
        rejected_any |= batch.columns["sequential_p_value"] < 0.05
    sequential_rate = float(rejected_any.mean())
    srm = [
        srm_test([int(a), int(b)], [0.5, 0.5]).flagged for a, b in zip(c["n"], t["n"], strict=True)
    ]
    srm_rate = float(np.mean(srm))
    se = np.sqrt(0.05 * 0.95 / size["aa"])
    passed = abs(false_positive - 0.05) <= 0.015 and sequential_rate <= 0.05 and srm_rate <= 0.01
    return passed, (
        f"A/A, {size['aa']} experiments (different seeds) on the same {pop.n_users:,} simulated "
        f"users x 14 days, CTR: false positives at the final look {false_positive:.1%} "
        f"(binomial s.e. {se:.1%}; target 5% +/- 1.5%), over 14 daily always-valid looks "
        f"{sequential_rate:.1%} (target <= 5%), SRM alarms {srm_rate:.1%} (target ~0.1%, <= 1%)"
    )


# --- 3. coverage ------------------------------------------------------------------------------
def figure_coverage(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    effect = Effect(attraction=0.05)
    truth = true_effects(base, MODEL, control=NO_EFFECT, treatment=effect, days=DAYS, k=K,
                         policy=policy, rng=rng, n_users=size["truth"])  # fmt: skip
    true_diff = {
        "conversion": truth["conversion_rate"][1] - truth["conversion_rate"][0],
        "ctr": truth["ctr"][1] - truth["ctr"][0],
        "watch": truth["watch_time"][1] - truth["watch_time"][0],
    }
    parts: dict[str, tuple[list, list]] = {m: ([], []) for m in true_diff}
    for r in range(size["cov"]):
        pop = fresh_users(base, size["cov_users"], rng, f"cov{r}")
        traffic = draw_traffic(pop, days=DAYS, k=K, policy=policy, rng=rng)
        c_world = user_totals(pop, MODEL, traffic)
        t_world = user_totals(pop, MODEL, traffic, effect)
        arm = split(pop.user_ids, [f"cov-{r}"])
        for metric, (cs, ts) in parts.items():
            cs.append(columns(c_world, 1 - arm, metric))
            ts.append(columns(t_world, arm, metric))
    coverage = {}
    for metric, (cs, ts) in parts.items():
        out = analyze_many(KIND[metric], stack(cs), stack(ts)).columns
        inside = (out["absolute_lower"] <= true_diff[metric]) & (
            true_diff[metric] <= out["absolute_upper"]
        )
        coverage[metric] = float(inside.mean())
    passed = all(0.93 <= v <= 0.97 for v in coverage.values())
    shown = ", ".join(f"{m} {v:.1%}" for m, v in coverage.items())
    return passed, (
        f"coverage of the 95% CI over {size['cov']} experiments of {size['cov_users']:,} fresh "
        f"users with a planted +5% attraction lift (true effects by a {size['truth']:,}-user "
        f"Monte Carlo): {shown} (conversion: proportion+CUPED, ctr: ratio, watch: heavy-tailed "
        f"mean+CUPED; target 93-97%)"
    )


# --- 4. power ---------------------------------------------------------------------------------
def _exposed_totals(
    base, n_exposed: int, rng, prefix: str, effects: list[Effect], looks=(), look_effects=None
):
    """User ids, each effect's totals over the first ``n_exposed`` exposed users of fresh
    traffic, and for each day in ``looks`` the totals until that day (per effect of
    ``look_effects``, all of ``effects`` by default)."""
    pop = fresh_users(base, int(n_exposed * 1.4) + 50, rng, prefix)
    traffic = draw_traffic(pop, days=DAYS, k=K, policy=policy, rng=rng)
    worlds = [user_totals(pop, MODEL, traffic, e) for e in effects]
    keep = np.flatnonzero(worlds[0].sessions > 0)[:n_exposed]
    daily = [
        [
            user_totals(pop, MODEL, traffic, e, until_day=float(d)).select(keep)
            for e in (effects if look_effects is None else look_effects)
        ]
        for d in looks
    ]
    return pop.user_ids[keep], [w.select(keep) for w in worlds], daily


def figure_power(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    effect = Effect(attraction=0.5)
    truth = true_effects(base, MODEL, control=NO_EFFECT, treatment=effect, days=DAYS, k=K,
                         policy=policy, rng=rng, n_users=size["truth"])  # fmt: skip
    p_c, p_t = truth["conversion_rate"]
    mde = p_t / p_c - 1
    rates, texts = [], []
    for share in (0.5, 0.1):
        # The planner's size: the pooled z-test that the report runs (``plan_experiment``'s
        # default); an unpooled plan oversizes the 90/10 split, whose small arm has the higher rate.
        ratio = share / (1 - share)
        plan = plan_experiment("proportion", mde=mde, baseline=p_c, ratio=ratio).sample_size
        detected = 0
        for r in range(size["power"]):
            ids, (c_world, t_world), _ = _exposed_totals(
                base, plan.total, rng, f"pw{share}-{r}", [NO_EFFECT, effect]
            )
            arm = split(ids, [f"power-{share}-{r}"], share)
            c_cols = columns(c_world, 1 - arm, "conversion")
            t_cols = columns(t_world, arm, "conversion")
            out = analyze_many("proportion", c_cols, t_cols, cuped=False).columns
            detected += int(out["p_value"][0] < 0.05 and out["absolute_effect"][0] > 0)
        rate = detected / size["power"]
        rates.append(rate)
        split_name = f"{round(100 * (1 - share))}/{round(100 * share)}"
        texts.append(f"{split_name} at n={plan.control:,}+{plan.treatment:,}: {rate:.1%}")
    passed = all(abs(rate - 0.8) <= 0.04 for rate in rates)
    return passed, (
        f"power, conversion {p_c:.3f} -> {p_t:.3f} (planted MDE {mde:+.1%} relative), planner's "
        f"sizes, {size['power']} experiments each: "
        + ", ".join(texts)
        + f" (target 80% +/- 4; binomial s.e. {np.sqrt(0.16 / size['power']):.1%})"
    )


def figure_power_sequential(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    """Figure 4's last clause: the report read every day in sequential mode (always-valid
    p-values, the confidence sequence tuned to the planner's total), with the planted effect
    equal to the MDE and the planner's sequential size (``plan_experiment(sequential=True)``).
    Detected: on some daily look the always-valid p-value is below 5% with a positive effect
    (the first such look decides, as an analyst would stop there)."""
    effect = Effect(attraction=0.5)
    truth = true_effects(base, MODEL, control=NO_EFFECT, treatment=effect, days=DAYS, k=K,
                         policy=policy, rng=rng, n_users=size["truth"])  # fmt: skip
    p_c, p_t = truth["conversion_rate"]
    mde = p_t / p_c - 1
    looks = range(1, int(DAYS) + 1)
    plan = plan_experiment("proportion", mde=mde, baseline=p_c, sequential=True, looks=len(looks))
    planned = plan.sample_size
    detected = final_only = 0
    for r in range(size["power"]):
        ids, _, daily = _exposed_totals(
            base, planned.total, rng, f"sq-{r}", [NO_EFFECT, effect], looks
        )
        arm = split(ids, [f"sequential-{r}"])
        c_cols = stack([columns(day[0], 1 - arm, "conversion") for day in daily])
        t_cols = stack([columns(day[1], arm, "conversion") for day in daily])
        out = analyze_many("proportion", c_cols, t_cols, cuped=False, sequential=True,
                           planned_total=planned.total).columns  # fmt: skip
        rejected = np.flatnonzero(out["sequential_p_value"] < 0.05)
        detected += int(len(rejected) > 0 and out["absolute_effect"][rejected[0]] > 0)
        final_only += int(out["sequential_p_value"][-1] < 0.05 and out["absolute_effect"][-1] > 0)
    rate, final_rate = detected / size["power"], final_only / size["power"]
    return abs(rate - 0.8) <= 0.04, (
        f"power in sequential mode, conversion {p_c:.3f} -> {p_t:.3f} (planted MDE "
        f"{mde:+.1%}), the planner's sequential size for {len(looks)} looks "
        f"n={planned.control:,}+{planned.treatment:,} "
        f"(fixed-horizon size x{planned.total / _fixed_total(p_c, mde):.2f}), {size['power']} "
        f"experiments read on each of {len(looks)} days with always-valid p-values: detected "
        f"{rate:.1%} (target 80% +/- 4; binomial s.e. {np.sqrt(0.16 / size['power']):.1%}); "
        f"at the final look alone {final_rate:.1%}"
    )


def _fixed_total(p_c: float, mde: float) -> int:
    return plan_experiment("proportion", mde=mde, baseline=p_c).sample_size.total


# --- 5. guardrails ----------------------------------------------------------------------------
GUARDRAIL_MARGIN = 0.05  # relative: harm starts at a 5% longer time to first interaction


def figure_guardrails(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    """Time to first interaction as a guardrail (a rise is harm, 5% relative margin), in two
    designs, each at the planner's guardrail size (``sample_size_noninferiority``: the
    guardrail test's own standard error, ``a^2`` times the control's variance, one-sided
    alpha 5%) from the metric's mean and per-user standard deviation over fresh users:

    * fixed horizon: the report read once, at the planned size (``noninferiority_test``);
    * sequential: the report read on each of 7 days with the always-valid guardrail the
      report runs for a sequential experiment (``sequential=True``, the confidence sequence
      tuned to the planned total), sized by the planner's ``sequential=True``.

    Planted harms (``Effect.first_interaction``): twice the margin (must be flagged at the
    end), exactly the margin (must not pass, neither at the end nor on any daily read), none
    (must pass at the end as often as the planner's ``power_noninferiority`` promises)."""
    big = fresh_users(base, size["truth"] // 4, rng, "gtruth")
    sample = user_totals(big, MODEL, draw_traffic(big, days=DAYS, k=K, policy=policy, rng=rng))
    tfi = sample.tfi_mean[sample.first_interactions > 0]
    share_with_tfi = float((sample.first_interactions > 0).sum() / (sample.sessions > 0).sum())
    guardrail = dict(kind="mean", baseline=float(tfi.mean()), std=float(tfi.std()),
                     margin=GUARDRAIL_MARGIN, bad_direction="increase")  # fmt: skip
    fixed = _guardrail_design(base, size, rng, guardrail, share_with_tfi, sequential=False)
    daily = _guardrail_design(base, size, rng, guardrail, share_with_tfi, sequential=True)
    n = size["guard"]
    # A test at exactly its margin passes 5% of the time in expectation: the observed rate is
    # held to 5% up to one-sided binomial noise (1.645 s.e.), not to 5.0% exactly.
    at_margin_limit = 0.05 + 1.645 * np.sqrt(0.05 * 0.95 / n)
    ok = (
        fixed["flagged_2x"] >= 0.8
        and daily["flagged_2x"] >= 0.8
        and fixed["passed_margin"] <= at_margin_limit
        and daily["passed_margin_any_day"] <= at_margin_limit
        and abs(fixed["passed_none"] - fixed["promised"]) <= 0.04
        and abs(daily["passed_none"] - daily["promised"]) <= 0.04
    )
    return ok, (
        f"guardrails, time to first interaction, {GUARDRAIL_MARGIN:.0%} relative margin, "
        f"{n} experiments per design; fixed horizon at the planner's size "
        f"{fixed['n_control']:,} per arm: harm 2x margin flagged {fixed['flagged_2x']:.1%} "
        f"(target >= 80%), harm = margin passed {fixed['passed_margin']:.1%} (target <= 5%, "
        f"i.e. <= {at_margin_limit:.1%} with binomial noise), no harm passed "
        f"{fixed['passed_none']:.1%} (planner's power {fixed['promised']:.1%} +/- 4); "
        f"sequential, read on each of 7 days with the always-valid test, at the planner's "
        f"sequential size {daily['n_control']:,} per arm: harm 2x margin flagged at the end "
        f"{daily['flagged_2x']:.1%}, harm = margin passed on some daily read "
        f"{daily['passed_margin_any_day']:.1%} (target <= 5%; at the end "
        f"{daily['passed_margin']:.1%}), no harm passed at the end {daily['passed_none']:.1%} "
        f"(planner's power {daily['promised']:.1%} +/- 4; on some read "
        f"{daily['passed_none_any_day']:.1%}); binomial s.e. near 5% "
        f"{np.sqrt(0.0475 / n):.1%}, near 80% {np.sqrt(0.16 / n):.1%}"
    )


def _guardrail_design(
    base, size: dict, rng, guardrail: dict, share_with_tfi: float, *, sequential: bool
) -> dict[str, float]:
    """Rates of one design over ``size["guard"]`` experiments (see ``figure_guardrails``)."""
    plan = sample_size_noninferiority(**guardrail, sequential=sequential)
    promised = power_noninferiority(**guardrail, n_control=plan.control, sequential=sequential)
    # Exposed users such that the users with a first interaction (the metric's n) are the
    # planned total in expectation.
    n_exposed = int(plan.total / share_with_tfi) + 1
    harm_margin = Effect(first_interaction=GUARDRAIL_MARGIN)
    harm_2x = Effect(first_interaction=2 * GUARDRAIL_MARGIN)
    looks = range(1, int(DAYS) + 1) if sequential else ()
    test = dict(margin=guardrail["margin"], sequential=sequential, planned_total=plan.total)
    counts = dict.fromkeys(
        ("flagged_2x", "passed_margin", "passed_none", "passed_margin_any_day",
         "passed_none_any_day"), 0,
    )  # fmt: skip
    for r in range(size["guard"]):
        prefix = f"g{'s' if sequential else 'f'}{r}"
        ids, (none, margin, twice), days = _exposed_totals(
            base, n_exposed, rng, prefix, [NO_EFFECT, harm_margin, harm_2x], looks,
            look_effects=[NO_EFFECT, harm_margin],
        )  # fmt: skip
        arm = split(ids, [f"guard-{prefix}"])
        counts["flagged_2x"] += not _noninferior(none, twice, arm, **test)
        counts["passed_margin"] += _noninferior(none, margin, arm, **test)
        # No harm: the treated users' own (common random numbers) control outcomes.
        counts["passed_none"] += _noninferior(none, none, arm, **test)
        counts["passed_margin_any_day"] += any(_noninferior(c, m, arm, **test) for c, m in days)
        counts["passed_none_any_day"] += any(_noninferior(c, c, arm, **test) for c, _ in days)
    rates = {name: count / size["guard"] for name, count in counts.items()}
    return rates | {"n_control": plan.control, "promised": promised}


def _noninferior(
    control: UserTotals, treatment: UserTotals, arm: np.ndarray, *, margin: float,
    sequential: bool, planned_total: int,
) -> bool:  # fmt: skip
    """The report's guardrail verdict (non-inferiority of the mean, harm = increase):
    ``analytics.reports.metrics.guardrail`` calls the same test with the same arguments."""

    def stats(totals: UserTotals, mask: np.ndarray) -> SufficientStats:
        cols = columns(totals, mask, "tfi")
        return SufficientStats(n=int(cols["n"][0]), sum_x=float(cols["sum_x"][0]),
                               sum_x2=float(cols["sum_x2"][0]))  # fmt: skip

    c, t = stats(control, 1 - arm), stats(treatment, arm)
    if min(c.n, t.n) < 2:
        return False
    return noninferiority_test(
        "mean", c, t, margin=margin, bad_direction="increase", sequential=sequential,
        planned_total=planned_total,
    ).noninferior  # fmt: skip


# --- 6. holdout ------------------------------------------------------------------------------
def figure_holdout(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    """Two launches (+6% and +4% attraction: +10.24% together) against a 5% holdout; the
    holdout report's comparison (``analyze_many``, holdout as control) over fresh users."""
    shipped = Effect(attraction=1.06 * 1.04 - 1)
    truth = true_effects(base, MODEL, control=NO_EFFECT, treatment=shipped, days=DAYS, k=K,
                         policy=policy, rng=rng, n_users=size["truth"])  # fmt: skip
    true_diff = truth["ctr"][1] - truth["ctr"][0]
    cs, ts = [], []
    users = 4 * size["cov_users"]
    for r in range(size["cov"]):
        pop = fresh_users(base, users, rng, f"hold{r}")
        traffic = draw_traffic(pop, days=DAYS, k=K, policy=policy, rng=rng)
        held = split(pop.user_ids, [f"holdout-{r}"], 0.05)
        cs.append(columns(user_totals(pop, MODEL, traffic), held, "ctr"))
        ts.append(columns(user_totals(pop, MODEL, traffic, shipped), 1 - held, "ctr"))
    out = analyze_many("ratio", stack(cs), stack(ts)).columns
    inside = (out["absolute_lower"] <= true_diff) & (true_diff <= out["absolute_upper"])
    coverage = float(inside.mean())
    estimate = float(np.mean(out["absolute_effect"]))
    return 0.93 <= coverage <= 0.97, (
        f"holdout, two launches (+6% and +4% attraction) against a 5% holdout of "
        f"{users:,} fresh users, {size['cov']} times: true CTR impact {true_diff:+.5f}, mean "
        f"estimate {estimate:+.5f}, inside the report's 95% interval in {coverage:.1%} "
        f"(target 93-97%)"
    )


# --- 7. recommenders in the loop ---------------------------------------------------------------
def figure_pipeline(base, size: dict, rng: np.random.Generator) -> tuple[bool, str]:
    """The two-tower pipeline against most-popular (``benchmarks/_simulation_pipeline.py``)."""
    from benchmarks._simulation_pipeline import run_pipeline_figure

    return run_pipeline_figure(
        n_users=size["loop_users"], n_items=size["loop_items"], epochs=size["loop_epochs"],
        replications=size["loop"], days=DAYS, k=K, model=MODEL, split=split, columns=columns,
        seed=int(rng.integers(2**31)),
    )  # fmt: skip


# name for --only: (number printed, figure)
FIGURES = {
    "aa": ("2", figure_aa),
    "coverage": ("3", figure_coverage),
    "power": ("4", figure_power),
    "sequential": ("4b", figure_power_sequential),
    "guardrails": ("5", figure_guardrails),
    "holdout": ("6", figure_holdout),
    "pipeline": ("7", figure_pipeline),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Full size by default; --quick is the size the test suite runs (SPLITLAB_FULL=1 "
        "overrides --quick). The in-process figures are CPU-heavy: run one at a time with --only.",
    )
    parser.add_argument("--quick", action="store_true", help="the reduced size of the tests")
    parser.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--only",
        default="accounting,aa,coverage,power,sequential,guardrails,holdout,pipeline",
        help="comma-separated figures: accounting (1, HTTP), aa (2), coverage (3), power (4), "
        "sequential (4b), guardrails (5), holdout (6), pipeline (7)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (figure 1)")
    parser.add_argument(
        "--replicates", type=int, default=None, help="experiments per figure (a smoke run)"
    )
    args = parser.parse_args()
    quick = args.quick and os.environ.get("SPLITLAB_FULL") != "1"
    size = dict(SIZES["quick" if quick else "full"])
    if args.replicates:
        size.update(aa=args.replicates, cov=args.replicates, power=args.replicates)
        size.update(guard=args.replicates, loop=args.replicates, truth=10_000)
    only = set(args.only.split(","))
    rng = np.random.default_rng(args.seed)
    results = []
    if "accounting" in only:
        from benchmarks._serving_support import reachable

        if not reachable(args.server_url):
            print(f"PostgreSQL not found at {args.server_url}", file=sys.stderr)
            return 2
        from benchmarks._simulation_accounting import run_accounting

        started = time.monotonic()
        passed, text = run_accounting(
            args.server_url,
            users=size["accounting"],
            clients=4,
            seed=args.seed,
            web_workers=args.web_workers,
        )
        results.append(passed)
        seconds = time.monotonic() - started
        print(
            f"simulation: (1) accounting: {text} in {seconds:.0f} s (target: all equal) "
            f"{verdict(passed)}",
            flush=True,
        )
    base = generate_population(1000, 400, rng=np.random.default_rng(args.seed + 1))
    for name, (number, figure) in FIGURES.items():
        if name not in only:
            continue
        started = time.monotonic()
        passed, text = figure(base, size, rng)
        results.append(passed)
        seconds = time.monotonic() - started
        print(f"simulation: ({number}) {text}; {seconds:.0f} s in process {verdict(passed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
