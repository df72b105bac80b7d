"""Credit attribution, preference, the paired credit difference and planning, against
scipy, statsmodels and hand-worked tables."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analytics.interleaving import (
    CreditTable,
    Impression,
    InterleavedList,
    combine_tables,
    credit_difference,
    credit_difference_users_needed,
    credit_table,
    decisive_users_needed,
    plan_from_pilot,
    plan_interleaving,
    position_credit,
    preference_test,
)


def served(items, teams, offset=0, for_analysis=True):
    return InterleavedList(tuple(items), tuple(teams), for_analysis, offset)


def test_credit_table_attributes_each_click_to_its_team_once():
    impressions = [
        Impression("u1", served(["x", "y", "z"], [0, 1, 0]), ["x", "y", "x"]),
        Impression("u1", served(["p", "q"], [1, 0], offset=3), ["q", "ghost"]),
        Impression("u2", served(["x", "y"], [1, 0]), ["y"]),
        Impression("u3", served(["x", "y"], [0, 1], for_analysis=False), ["x"]),
    ]
    table = credit_table(impressions)
    assert table.users == ("u1", "u2")
    assert table.clicks.tolist() == [[2.0, 1.0], [1.0, 0.0]]
    assert table.impressions.tolist() == [2.0, 1.0]
    assert table.unattributed_clicks == 1  # "ghost" was not in the served list
    assert table.excluded_impressions == 1
    assert table.position_shown.shape == (5, 2)
    assert table.position_shown[3].tolist() == [0.0, 1.0]  # "p", team 1, page offset 3
    rates = position_credit(table)
    assert rates[0].tolist() == [1.0, 0.0]  # x clicked under team 0; u2's x under team 1 not
    assert np.isnan(rates[2, 1])


def test_credit_table_bad_input():
    with pytest.raises(ValueError, match=r"^impressions\[0\]"):
        credit_table(["not an impression"])
    with pytest.raises(ValueError, match=r"^impressions\[0\]\.user_id"):
        credit_table([Impression("", served(["x"], [0]))])
    with pytest.raises(ValueError, match="^n_teams"):
        credit_table([], n_teams=1)


def test_preference_by_hand_against_scipy_and_statsmodels():
    clicks = [[3, 1]] * 30 + [[0, 2]] * 18 + [[1, 1]] * 6 + [[0, 0]] * 46
    result = preference_test(CreditTable.from_counts(clicks))
    assert (result.wins_a, result.wins_b, result.ties) == (30, 18, 6)
    assert result.users_without_clicks == 46
    assert result.preference_a == pytest.approx((30 + 3) / 54)
    assert result.decisive_share_a == pytest.approx(30 / 48)
    assert result.p_value == pytest.approx(stats.binomtest(30, 48, 0.5).pvalue, rel=1e-12)
    assert result.ci == pytest.approx(proportion_confint(30, 48, 0.05, method="wilson"), rel=1e-9)
    assert result.winner is None  # p = 0.11
    strong = preference_test(CreditTable.from_counts([[2, 0]] * 40 + [[0, 1]] * 10))
    assert strong.winner == 0 and strong.p_value < 0.001


def test_credit_difference_is_statsmodels_cluster_robust_per_impression():
    rng = np.random.default_rng(8)
    users = np.repeat(np.arange(300), rng.integers(1, 6, 300))
    propensity = rng.uniform(0.05, 0.5, 300)[users]
    a = rng.binomial(2, propensity * 1.1)
    b = rng.binomial(2, propensity)
    table = CreditTable.from_counts(
        np.column_stack([np.bincount(users, a), np.bincount(users, b)]), np.bincount(users)
    )
    result = credit_difference(table)
    fit = sm.OLS((a - b).astype(float), np.ones(len(users))).fit(
        cov_type="cluster", cov_kwds={"groups": users}
    )
    assert result.difference == pytest.approx(fit.params[0], rel=1e-12)
    assert result.std_error == pytest.approx(fit.bse[0], rel=1e-9)
    assert result.p_value == pytest.approx(fit.pvalues[0], rel=1e-6)
    assert result.impressions == len(users)


def test_decisive_users_give_the_stated_power_by_exact_binomial():
    # the exact test is a little conservative: 0.79 at these rates, 0.76 at pi = 0.6 (194)
    for pi in (0.52, 0.53, 0.55):
        n = int(np.ceil(decisive_users_needed(pi, alpha=0.05, power=0.8)))
        upper = stats.binom.isf(0.025, n, 0.5)  # reject when wins > upper or < n - upper
        power = stats.binom.sf(upper, n, pi) + stats.binom.cdf(n - upper - 1, n, pi)
        assert power == pytest.approx(0.8, abs=0.015)


def test_plan_by_hand_and_from_a_pilot():
    plan = plan_interleaving(0.6, 0.25, daily_users=1000, coverage=0.5)
    z_a, z_b = stats.norm.isf(0.025), stats.norm.isf(0.2)
    exact = ((z_a * 0.5 + z_b * np.sqrt(0.24)) / 0.1) ** 2
    assert plan.decisive_users == int(np.ceil(exact))
    assert plan.users == int(np.ceil(exact / 0.25))
    assert plan.days == int(np.ceil(plan.users / 500))
    pilot = CreditTable.from_counts([[1, 0]] * 60 + [[0, 1]] * 40 + [[0, 0]] * 300)
    from_pilot = plan_from_pilot(pilot)
    assert from_pilot.preference_rate == pytest.approx(0.6)
    assert from_pilot.decisive_share == pytest.approx(0.25)
    assert from_pilot.users == plan.users


def test_credit_difference_users_match_statsmodels_one_sample_normal_power():
    from statsmodels.stats.power import NormalIndPower

    for theta, sigma in ((0.01, 0.5), (-0.003, 0.2), (0.05, 1.3)):
        users = credit_difference_users_needed(theta, sigma, alpha=0.05, power=0.8)
        # ratio=0: one sample of nobs1 (its two-sided power also counts the far tail)
        oracle = NormalIndPower().solve_power(abs(theta) / sigma, alpha=0.05, power=0.8, ratio=0)
        assert users == pytest.approx(oracle, abs=1)


def test_credit_difference_users_give_the_stated_power_in_simulation():
    # Poisson credits 1.2 vs 1.0 per impression: theta 0.2, sigma sqrt(2.2)
    users = credit_difference_users_needed(0.2, np.sqrt(2.2))
    rng = np.random.default_rng(5)
    detected = [
        credit_difference(CreditTable.from_counts(rng.poisson([1.2, 1.0], (users, 2)))).p_value
        < 0.05
        for _ in range(400)
    ]
    assert np.mean(detected) == pytest.approx(0.8, abs=0.06)


def test_combined_tables_equal_the_table_of_all_their_impressions():
    first = [
        Impression("u1", served(["x", "y", "z"], [0, 1, 0]), ["x", "ghost"]),
        Impression("u2", served(["x", "y"], [1, 0]), ["y"]),
        Impression("u3", served(["x"], [0], for_analysis=False), ["x"]),
    ]
    second = [
        Impression("u3", served(["p", "q", "r", "s"], [1, 0, 1, 0]), ["s", "p"]),
        Impression("u1", served(["p", "q"], [0, 1], offset=3), ["q"]),
    ]
    combined = combine_tables([credit_table(first), credit_table(second)])
    whole = credit_table(first + second)
    assert combined.users == whole.users == ("u1", "u2", "u3")
    for name in ("impressions", "clicks", "position_shown", "position_clicks"):
        np.testing.assert_array_equal(getattr(combined, name), getattr(whole, name))
    assert (combined.unattributed_clicks, combined.excluded_impressions) == (1, 1)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: preference_test(CreditTable.from_counts([[1, 0]]), team_b=2), "team_b"),
        (lambda: preference_test(CreditTable.from_counts([[1, 0]]), team_b=0), "team_b"),
        (lambda: preference_test("table"), "table"),
        (lambda: preference_test(CreditTable.from_counts([[1, 0]]), alpha=0), "alpha"),
        (lambda: credit_difference(CreditTable.from_counts([[1, 0]])), "table"),
        (lambda: credit_difference_users_needed(0.0, 1.0), "difference"),
        (lambda: credit_difference_users_needed(0.1, 0.0), "std_per_user"),
        (lambda: combine_tables([]), "tables"),
        (lambda: combine_tables([CreditTable.from_counts([[1, 0]]), "t"]), r"tables\[1\]"),
        (
            lambda: combine_tables(
                [CreditTable.from_counts([[1, 0]]), CreditTable.from_counts([[1, 0, 0]])]
            ),
            r"tables\[1\]",
        ),
        (lambda: plan_interleaving(0.5, 0.3), "preference_rate"),
        (lambda: plan_interleaving(0.6, 0.0), "decisive_share"),
        (lambda: plan_interleaving(0.6, 0.3, power=0.01), "power"),
        (lambda: plan_interleaving(0.6, 0.3, daily_users=0), "daily_users"),
        (lambda: plan_from_pilot(CreditTable.from_counts([[1, 1], [0, 0]])), "table"),
        (lambda: CreditTable.from_counts([1, 2]), "clicks"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}"):
        call()
