"""Figure 7 of ``simulation.py``: the two-tower pipeline against most-popular, in the loop.

1. History: every user of a generated population consumed ``5 + Poisson(history_mean)``
   distinct items over the 30 days before the experiment, each drawn (without replacement)
   with probability proportional to the user's planted attraction ``a(u, i)``
   (``BehaviourModel.attraction``), so the training data carries the planted tastes and
   popularity and nothing else. Demographics go along as user attributes.
2. Training, in process (``recommenders.core``, no Django): ``pipeline`` (two-tower
   candidates, item-CF, feature store, MLP ranker; few epochs) and ``popular`` are fitted on
   that ``InteractionData`` through the registry's ``create_model``.
3. Serving: each user's top-``k`` list from each model's ``recommend_one`` (the serving
   request: ranking, then the business rules), seen items excluded, as the workers serve it.
4. The experiment: users split 50/50 by the platform's hashing (one seed per replication);
   each user's sessions (``Poisson(sessions_per_day * days)``) are all shown that user's list
   from the arm's model, and clicks are drawn from the position-based click model on exactly
   those lists. Per-arm sums go to ``analyze_many("ratio", ...)``, the report's CTR analysis.
5. The truth, exact (no sampling): a user's expected CTR under a list is the mean of its
   planted click probabilities (``BehaviourModel.click_probability``); CTR is clicks over
   impressions, so the true effect is the session-rate-weighted difference
   ``sum_u lambda_u (ctr_pipeline(u) - ctr_popular(u)) / sum_u lambda_u`` over the users of
   the experiment (the effect of serving one model rather than the other to this
   population).

Replications redraw the split, the sessions and the clicks; the training and the served
lists (deterministic given the fitted models) are shared, so the truth is one number.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from analytics.stats import analyze_many
from recommenders.core.base import InteractionData, UserFeatures
from recommenders.core.registry import create_model
from simulator.behaviour import BehaviourModel
from simulator.population import Population, generate_population
from simulator.traffic import draw_traffic, user_totals

HISTORY_DAYS = 30.0
SECONDS_PER_DAY = 86_400.0
START = 1_700_000_000.0  # unix seconds of the experiment's start (any fixed time)


def planted_history(
    pop: Population, model: BehaviourModel, rng: np.random.Generator, history_mean: float
) -> InteractionData:
    """Implicit positives drawn from the planted attraction (see the module, step 1)."""
    rows, cols, stamps = [], [], []
    all_items = np.arange(pop.n_items)
    for user in range(pop.n_users):
        weights = model.attraction(pop, np.array([user]), all_items[None, :])[0]
        size = min(pop.n_items, 5 + int(rng.poisson(history_mean)))
        items = rng.choice(pop.n_items, size, replace=False, p=weights / weights.sum())
        rows.append(np.full(size, user))
        cols.append(items)
        stamps.append(np.sort(START - rng.random(size) * HISTORY_DAYS * SECONDS_PER_DAY))
    shape = (pop.n_users, pop.n_items)
    user_index, item_index = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix((np.ones(len(user_index)), (user_index, item_index)), shape=shape)
    timestamps = sp.csr_matrix((np.concatenate(stamps), (user_index, item_index)), shape=shape)
    return InteractionData(
        matrix=matrix,
        timestamps=timestamps,
        user_ids=pop.user_ids,
        item_ids=pop.item_ids,
        user_features=UserFeatures(attributes=dict(pop.demographics)),
    )


def pipeline_params(epochs: int, seed: int) -> dict:
    """A small pipeline that fits in seconds on two cores (one thread each for torch)."""
    return {
        "two_tower": {"epochs": epochs, "dim": 32, "hidden": 64, "batch_size": 256,
                      "threads": 1, "validation_users": 200},
        "ranker": {"epochs": 15, "threads": 1},
        "quotas": {"ann": 60, "item_cf": 40, "fresh": 10},
        "n_candidates": 100,
        "ranker_users": 2000,
        "seed": seed,
    }  # fmt: skip


def served_lists(recommender, pop: Population, k: int) -> np.ndarray:
    """Each user's top-``k`` item rows from ``recommend_one`` (users x k)."""
    lists = np.empty((pop.n_users, k), dtype=np.int64)
    for user in range(pop.n_users):
        served = recommender.recommend_one(user, k, attributes=pop.attributes(user))
        if len(served) != k:
            raise RuntimeError(f"{recommender.name}: served {len(served)} items, not {k}")
        lists[user] = [item for item, _, _ in served]
    return lists


def run_pipeline_figure(
    *,
    n_users: int,
    n_items: int,
    epochs: int,
    replications: int,
    days: float,
    k: int,
    model: BehaviourModel,
    split,
    columns,
    seed: int,
) -> tuple[bool, str]:
    """Figure 7 (see the module); ``split`` and ``columns`` are ``simulation.py``'s helpers
    (hash split per seed, the rollup's per-arm sums)."""
    rng = np.random.default_rng(seed)
    pop = generate_population(n_users, n_items, rng=rng, prefix="loop")
    data = planted_history(pop, model, rng, history_mean=15.0)
    started = time.monotonic()
    pipeline = create_model("pipeline", **pipeline_params(epochs, seed)).fit(data)
    popular = create_model("popular").fit(data)
    lists = {"popular": served_lists(popular, pop, k), "pipeline": served_lists(pipeline, pop, k)}
    train_serve_seconds = time.monotonic() - started
    users = np.arange(pop.n_users)
    expected = {
        name: model.click_probability(pop, users, items).mean(axis=1)
        for name, items in lists.items()
    }
    weights = pop.sessions_per_day
    true_ctr = {name: float(weights @ v / weights.sum()) for name, v in expected.items()}
    true_effect = true_ctr["pipeline"] - true_ctr["popular"]
    outcomes = []
    for r in range(replications):
        arm = split(pop.user_ids, [f"loop-{seed}-{r}"])
        served = np.where(arm[0][:, None] > 0, lists["pipeline"], lists["popular"])
        traffic = draw_traffic(
            pop, days=days, k=k, policy=lambda *_, lists=served: lists, rng=rng, pre_days=0.0
        )
        totals = user_totals(pop, model, traffic)
        outcomes.append((columns(totals, 1 - arm, "ctr"), columns(totals, arm, "ctr")))
    c = {name: np.concatenate([o[0][name] for o in outcomes]) for name in outcomes[0][0]}
    t = {name: np.concatenate([o[1][name] for o in outcomes]) for name in outcomes[0][1]}
    out = analyze_many("ratio", c, t).columns
    wins = (out["p_value"] < 0.05) & (out["absolute_effect"] > 0)
    covers = (out["absolute_lower"] <= true_effect) & (true_effect <= out["absolute_upper"])
    win_rate, coverage = float(wins.mean()), float(covers.mean())
    # Not below the nominal 95% by more than two binomial standard errors (the interval may
    # be conservative here: the truth is this population's effect, not a superpopulation's).
    floor = 0.95 - 2 * np.sqrt(0.95 * 0.05 / replications)
    passed = win_rate >= 0.9 and coverage >= floor
    return passed, (
        f"two-tower pipeline vs most popular in the loop: {pop.n_users:,} users x "
        f"{pop.n_items} items, histories drawn from the planted tastes "
        f"({data.matrix.nnz:,} positives), pipeline ({epochs} two-tower epochs) and popular "
        f"trained in process and serving top-{k} through recommend_one "
        f"({train_serve_seconds:.0f} s); true CTR {true_ctr['popular']:.4f} -> "
        f"{true_ctr['pipeline']:.4f} (true effect {true_effect:+.4f}, exact from the planted "
        f"click probabilities); {replications} experiments ({days:.0f} days, 50/50, clicks "
        f"drawn on the served lists): pipeline significantly ahead in {win_rate:.0%}, mean "
        f"estimate {float(out['absolute_effect'].mean()):+.4f} "
        f"(first: {out['absolute_effect'][0]:+.4f}, 95% CI [{out['absolute_lower'][0]:+.4f}, "
        f"{out['absolute_upper'][0]:+.4f}]), CI covers the true effect in {coverage:.0%} "
        f"(target: significant win in >= 90%, coverage >= {floor:.0%}, nominal 95% less two "
        f"binomial s.e.)"
    )
