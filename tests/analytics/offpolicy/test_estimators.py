"""Estimators against hand-computed cases, statsmodels' cluster-robust standard error, and
the refusals that keep a log without propensities from yielding a number."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.offpolicy import direct_method, doubly_robust, ips, snips

# Three logged single-item rounds: reward, logging propensity, candidate's propensity.
REWARD = [1.0, 0.0, 1.0]
LOGGING = [0.5, 0.25, 0.8]
TARGET = [1.0, 0.5, 0.2]
# weights 2, 2, 0.25


def test_ips_by_hand():
    estimate = ips(REWARD, LOGGING, TARGET)
    assert estimate.value == pytest.approx((2 + 0 + 0.25) / 3)
    assert estimate.estimator == "IPS"
    terms = np.array([2.0, 0.0, 0.25])
    assert estimate.std_error == pytest.approx(terms.std(ddof=1) / math.sqrt(3))
    assert estimate.effective_sample_size == pytest.approx(4.25**2 / (4 + 4 + 0.0625))


def test_clipping_caps_each_weight():
    assert ips(REWARD, LOGGING, TARGET, clip=1.5).value == pytest.approx((1.5 + 0.25) / 3)


def test_snips_by_hand():
    assert snips(REWARD, LOGGING, TARGET).value == pytest.approx((2 + 0.25) / (2 + 2 + 0.25))


def test_direct_method_and_doubly_robust_by_hand():
    q_logged, q_target = [0.4, 0.3, 0.6], [0.5, 0.2, 0.4]
    assert direct_method(q_target).value == pytest.approx(1.1 / 3)
    dr = doubly_robust(REWARD, LOGGING, TARGET, q_logged, q_target)
    by_hand = (0.5 + 2 * 0.6) + (0.2 + 2 * -0.3) + (0.4 + 0.25 * 0.4)
    assert dr.value == pytest.approx(by_hand / 3)


def test_slates_sum_positions_and_self_normalise_per_position():
    rewards = [[1, 0], [0, 1]]
    logging = [[0.5, 0.5], [0.25, 1.0]]
    target = [[1.0, 0.5], [0.5, 1.0]]  # weights [[2, 1], [2, 1]]
    assert ips(rewards, logging, target).value == pytest.approx((2 + 0 + 0 + 1) / 2)
    assert snips(rewards, logging, target).value == pytest.approx(2 / 4 + 1 / 2)
    assert ips(rewards, logging, target).estimator == "IIPS"


def test_normal_interval_is_statsmodels_cluster_robust():
    rng = np.random.default_rng(3)
    n = 600
    users = rng.integers(0, 90, n)
    reward = (rng.random(n) < 0.2 + 0.02 * (users % 7)).astype(float)
    logging, target = 0.2 + 0.6 * rng.random(n), rng.random(n)
    estimate = ips(reward, logging, target, user_ids=users)
    fit = sm.OLS(reward * target / logging, np.ones(n)).fit(
        cov_type="cluster", cov_kwds={"groups": users}
    )
    assert estimate.value == pytest.approx(fit.params[0], rel=1e-12)
    assert estimate.std_error == pytest.approx(fit.bse[0], rel=1e-9)
    assert estimate.n_users == len(np.unique(users))
    assert "clustered by user" in estimate.interval_method


def test_bootstrap_over_users_is_seeded_and_near_the_normal_interval():
    rng = np.random.default_rng(5)
    n = 3000
    reward = (rng.random(n) < 0.3).astype(float)
    logging, target = 0.3 + 0.5 * rng.random(n), rng.random(n)
    users = rng.integers(0, 500, n)
    boot = snips(reward, logging, target, user_ids=users, interval="bootstrap", seed=1)
    again = snips(reward, logging, target, user_ids=users, interval="bootstrap", seed=1)
    normal = snips(reward, logging, target, user_ids=users)
    assert boot.ci == again.ci
    assert boot.ci[0] < boot.value < boot.ci[1]
    assert "bootstrap over users" in boot.interval_method
    width_ratio = (boot.ci[1] - boot.ci[0]) / (normal.ci[1] - normal.ci[0])
    assert 0.85 < width_ratio < 1.15


def test_poor_coverage_is_warned_and_good_coverage_is_not():
    rng = np.random.default_rng(7)
    n = 5000
    logged_item = rng.integers(0, 4, n)  # uniform logging over 4 items
    reward = (rng.random(n) < 0.3).astype(float)
    covered = ips(reward, np.full(n, 0.25), (logged_item == 0).astype(float))
    assert covered.warnings == () and not covered.poor_coverage
    # the candidate puts half its mass on a fifth item that logging never shows
    uncovered = ips(reward, np.full(n, 0.25), 0.5 * (logged_item == 0))
    assert uncovered.poor_coverage
    assert "mean importance weight" in uncovered.warnings[0]
    # a candidate almost never matching the logged item: tiny effective sample
    rare = np.where(np.arange(n) < 20, 1.0, 0.0)
    assert any("effective sample size" in w for w in ips(reward, np.full(n, 0.25), rare).warnings)


@pytest.mark.parametrize(
    "logging, message",
    [
        (None, "logging_propensities: required"),
        ([0.5, float("nan"), 0.8], "logging_propensities: missing for 1 of 3"),
        ([0.5, 0.0, 0.8], "logging_propensities: every propensity must lie in (0, 1]"),
        ([0.5, 1.2, 0.8], "logging_propensities: every propensity must lie in (0, 1]"),
        ([0.5, 0.5], "logging_propensities: must have shape (3, 1)"),
    ],
)
def test_logs_without_valid_propensities_are_refused(logging, message):
    with pytest.raises(ValueError) as error:
        ips(REWARD, logging, TARGET)
    assert str(error.value).startswith(message)
    with pytest.raises(ValueError, match="^logging_propensities"):
        snips(REWARD, logging, TARGET)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: ips([], [], []), "rewards: no logged lists"),
        (lambda: ips(REWARD, LOGGING, [1.0, 2.0, 0.0]), "target_propensities"),
        (lambda: ips(REWARD, LOGGING, TARGET, user_ids=[1, 2]), "user_ids"),
        (lambda: ips(REWARD, LOGGING, TARGET, clip=0), "clip"),
        (lambda: ips(REWARD, LOGGING, TARGET, interval="exact"), "interval"),
        (lambda: ips(REWARD, LOGGING, TARGET, alpha=1.5), "alpha"),
        (lambda: snips(REWARD, LOGGING, [0, 0, 0]), "target_propensities"),
        (lambda: doubly_robust(REWARD, LOGGING, TARGET, [0.1], [0.1, 0.2, 0.3]), "estimated"),
        (lambda: direct_method([]), "estimated_rewards_target: no logged lists"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}"):
        call()


positive = st.floats(0.05, 1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), positive), min_size=2, max_size=40))
def test_on_policy_weights_give_the_observed_mean(rows):
    """With the candidate equal to the logging policy every weight is 1: IPS, SNIPS and DR
    all return the observed mean reward, with the full effective sample."""
    rewards = [float(r) for r, _ in rows]
    propensities = [p for _, p in rows]
    observed = float(np.mean(rewards))
    for estimate in (
        ips(rewards, propensities, propensities),
        snips(rewards, propensities, propensities),
        doubly_robust(rewards, propensities, propensities, [0.3] * len(rows), [0.3] * len(rows)),
    ):
        assert estimate.value == pytest.approx(observed)
        assert estimate.effective_sample_size == pytest.approx(len(rows))
        assert estimate.warnings == ()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), positive, positive), min_size=2, max_size=40),
    st.floats(0.1, 1.0),
)
def test_snips_ignores_a_common_scale_of_the_target(rows, scale):
    rewards = [float(r) for r, _, _ in rows]
    logging = [p for _, p, _ in rows]
    target = [q for _, _, q in rows]
    scaled = [q * scale for q in target]
    assert snips(rewards, logging, scaled).value == pytest.approx(
        snips(rewards, logging, target).value
    )
    assert ips(rewards, logging, scaled).value == pytest.approx(
        scale * ips(rewards, logging, target).value
    )
