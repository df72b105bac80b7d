"""Statistical properties of the assignment engine over 1,000,000 generated user ids
(vectorised path; a sample is cross-checked against the scalar path user by user)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from assignment import engine, hashing
from assignment.engine import CompiledExperiment, CompiledHoldout

N_USERS = 1_000_000
ALPHA = 0.001


@pytest.fixture(scope="module")
def user_ids() -> list[str]:
    rng = np.random.default_rng(20261126)
    # Realistic ids: a prefix and a random 12-digit number (not sequential).
    numbers = rng.choice(10**12, size=N_USERS, replace=False)
    return [f"u{n:012d}" for n in numbers.tolist()]


def experiment(key: str, weights, **kwargs) -> CompiledExperiment:
    n = len(weights)
    return CompiledExperiment(
        id=hash(key) & 0xFFFF,
        key=key,
        status="running",
        phase=1,
        seed=kwargs.pop("seed", f"{key}-5f3a9c21"),
        hash_version=kwargs.pop("hash_version", 2),
        coverage=kwargs.pop("coverage", 1.0),
        variant_keys=tuple(f"v{i}" for i in range(n)),
        variant_ids=tuple(range(n)),
        variant_weights=tuple(weights),
        recommender_config_ids=(None,) * n,
        control_index=0,
        **kwargs,
    )


def counts(assigned: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(assigned[assigned >= 0], minlength=k)


def no_holdout(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.9, 0.1)], ids=["50/50", "90/10"])
def test_split_matches_weights_within_chance(user_ids, weights):
    exp = experiment("split-test", weights)
    variants, reasons = engine.assign_many(exp, user_ids, None, no_holdout(len(user_ids)))
    assert (reasons == engine.ASSIGNED).all()
    observed = counts(variants, 2)
    expected = np.array(weights) * len(user_ids)
    p_value = stats.chisquare(observed, expected).pvalue
    assert p_value > ALPHA, (observed, p_value)


def test_vectorised_path_equals_scalar_path(user_ids):
    holdout = CompiledHoldout(id=1, seed="holdout-1234", share=0.05)
    exp = experiment(
        "cross",
        (0.2, 0.3, 0.5),
        coverage=0.8,
        layer_id=1,
        layer_seed="layer-x",
        layer_start=0.1,
        layer_end=0.7,
        targeting={"country": ["US", "DE"]},
        overrides={"u000000000042": 2},
    )
    sample = user_ids[:3000] + ["u000000000042"]
    attributes = [{"country": ("US", "FR", "DE")[i % 3]} for i in range(len(sample))]
    held = engine.holdout_many(holdout, sample)
    variants, reasons = engine.assign_many(exp, sample, attributes, held)
    for i, user_id in enumerate(sample):
        (one,) = engine.assign_one([exp], user_id, attributes[i], holdout.contains(user_id))
        assert held[i] == holdout.contains(user_id)
        assert (one.variant, one.reason) == (
            exp.variant_keys[variants[i]],
            engine.REASONS[reasons[i]],
        ), user_id
    assert set(engine.REASONS[r] for r in reasons.tolist()) == {
        "holdout",
        "not_targeted",
        "layer",
        "coverage",
        "assigned",
        "override",
    }


def test_experiments_in_different_layers_are_independent(user_ids):
    a = experiment(
        "rank-a", (0.5, 0.5), layer_id=1, layer_seed="ranking-9d1e", layer_start=0.0, layer_end=0.6
    )
    b = experiment(
        "ui-b", (0.5, 0.5), layer_id=2, layer_seed="ui-77c0", layer_start=0.2, layer_end=0.8
    )
    none = no_holdout(len(user_ids))
    va, ra = engine.assign_many(a, user_ids, None, none)
    vb, rb = engine.assign_many(b, user_ids, None, none)
    # States: out of the experiment (layer), control, treatment: a 3x3 contingency table.
    state_a = np.where(ra == engine.ASSIGNED, va + 1, 0)
    state_b = np.where(rb == engine.ASSIGNED, vb + 1, 0)
    table = np.zeros((3, 3))
    np.add.at(table, (state_a, state_b), 1)
    assert stats.chi2_contingency(table).pvalue > ALPHA, table
    # Each experiment holds its layer range's share of users.
    assert (ra == engine.ASSIGNED).mean() == pytest.approx(0.6, abs=0.003)
    assert (rb == engine.ASSIGNED).mean() == pytest.approx(0.6, abs=0.003)


def test_experiments_in_one_layer_never_share_a_user(user_ids):
    layer = {"layer_id": 7, "layer_seed": "shared-layer-31aa"}
    a = experiment("one", (0.5, 0.5), layer_start=0.0, layer_end=0.3, **layer)
    b = experiment("two", (0.5, 0.5), layer_start=0.3, layer_end=0.75, **layer)
    c = experiment("three", (0.5, 0.5), layer_start=0.75, layer_end=1.0, **layer)
    none = no_holdout(len(user_ids))
    inside = [engine.assign_many(e, user_ids, None, none)[1] == engine.ASSIGNED for e in (a, b, c)]
    membership = np.vstack(inside).sum(axis=0)
    assert membership.max() == 1  # never two experiments
    assert membership.min() == 1  # the ranges cover [0, 1): everyone is in exactly one
    assert [m.mean() for m in inside] == pytest.approx([0.3, 0.45, 0.25], abs=0.003)


def test_holdout_holds_its_share_and_ignores_experiments(user_ids):
    holdout = CompiledHoldout(id=3, seed="holdout-e0f1a2b3", share=0.03)
    held = engine.holdout_many(holdout, user_ids)
    test = stats.binomtest(int(held.sum()), len(user_ids), 0.03)
    assert test.pvalue > ALPHA
    # Membership depends on (seed, user) only: every experiment sees exactly these users as
    # holdout, whatever its own seed, weights or layer.
    for exp in (
        experiment("x", (0.5, 0.5)),
        experiment("y", (0.9, 0.1), coverage=0.3, layer_id=1, layer_seed="l", layer_end=0.5),
    ):
        _, reasons = engine.assign_many(exp, user_ids[:200_000], None, held[:200_000])
        assert ((reasons == engine.HOLDOUT) == held[:200_000]).all()


def test_hash_v1_correlates_similar_seeds_and_v2_does_not(user_ids):
    ids = user_ids[:200_000]

    def table(version: int) -> np.ndarray:
        a = hashing.hash_many("exp-a", ids, version)
        b = hashing.hash_many("exp-b", ids, version)
        grid = np.zeros((10, 10))
        np.add.at(grid, ((a * 10).astype(int), (b * 10).astype(int)), 1)
        return grid

    assert stats.chi2_contingency(table(1)).pvalue < 1e-100
    assert stats.chi2_contingency(table(2)).pvalue > ALPHA
