"""The pure population and behaviour model: planted truth recovered, click model properties."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.behaviour import BehaviourModel, Effect, SessionNoise, play_sessions
from simulator.population import fit_population, generate_population
from simulator.traffic import (
    draw_traffic,
    metric_values,
    personalised_policy,
    popular_policy,
    potential_outcomes,
    true_effects,
)

MODEL = BehaviourModel()


@pytest.fixture(scope="module")
def population():
    return generate_population(400, 120, rng=np.random.default_rng(1))


def _sessions(pop, n, k, rng):
    users = rng.integers(0, pop.n_users, n)
    items = np.stack([rng.choice(pop.n_items, k, replace=False) for _ in range(n)])
    return users, items


def test_planted_ctr_lift_is_exact_in_expectation_and_recovered_by_monte_carlo(population):
    rng = np.random.default_rng(2)
    users, items = _sessions(population, 20_000, 10, rng)
    lift = Effect(attraction=0.2)
    base = MODEL.true_ctr(population, users, items)
    lifted = MODEL.true_ctr(population, users, items, lift)
    attraction = MODEL.attraction(population, users, items)
    exposed = MODEL.examination(10)
    assert lifted == pytest.approx((exposed * np.minimum(1.2 * attraction, 1)).mean(), rel=1e-12)
    uncapped = (attraction * 1.2 < 1).all(axis=1)  # lists where no probability hits 1
    ratio = MODEL.true_ctr(population, users[uncapped], items[uncapped], lift) / MODEL.true_ctr(
        population, users[uncapped], items[uncapped]
    )
    assert ratio == pytest.approx(1.2, rel=1e-12)

    noise = SessionNoise.draw(len(users), 10, rng)
    control = play_sessions(population, MODEL, users, items, noise)
    treated = play_sessions(population, MODEL, users, items, noise, lift)
    for played, truth in ((control, base), (treated, lifted)):
        observed = played.clicks.mean()
        se = np.sqrt(truth * (1 - truth) / played.clicks.size)
        assert abs(observed - truth) < 4 * se
    # Common random numbers: a lift only adds clicks, it never removes one.
    assert not (control.clicks & ~treated.clicks).any()


def test_position_based_model_examines_top_positions_more(population):
    rng = np.random.default_rng(3)
    users, _ = _sessions(population, 30_000, 1, rng)
    item = np.full((len(users), 10), 7)  # the same item at every position
    played = play_sessions(population, MODEL, users, item, SessionNoise.draw(len(users), 10, rng))
    by_position = played.clicks.mean(axis=0)
    expected = MODEL.examination(10) * MODEL.attraction(population, users, item).mean(axis=0)
    assert np.all(np.diff(MODEL.examination(10)) < 0)
    assert by_position[0] > by_position[4] > by_position[9]
    assert np.allclose(by_position, expected, atol=4 * np.sqrt(expected / len(users)))


def test_relevant_items_are_clicked_more_and_watched_longer(population):
    rng = np.random.default_rng(4)
    users = np.repeat(np.arange(population.n_users), 50)
    scores = population.user_factors @ population.item_factors.T + population.item_bias
    best = np.argsort(-scores, axis=1)[:, :5][users]
    worst = np.argsort(scores, axis=1)[:, :5][users]
    noise = SessionNoise.draw(len(users), 5, rng)
    good = play_sessions(population, MODEL, users, best, noise)
    bad = play_sessions(population, MODEL, users, worst, noise)
    assert good.clicks.mean() > 3 * bad.clicks.mean()
    assert good.abandoned.mean() < bad.abandoned.mean()
    watched = good.watch_seconds[good.clicks]
    assert watched.min() > 0
    assert watched.mean() > 1.8 * np.median(watched)  # heavy tail (log-normal, sigma 1.3)


def test_abandonment_first_interaction_and_conversions_follow_clicks(population):
    rng = np.random.default_rng(5)
    users, items = _sessions(population, 5000, 8, rng)
    played = play_sessions(population, MODEL, users, items, SessionNoise.draw(5000, 8, rng))
    assert np.array_equal(played.abandoned, ~played.clicks.any(axis=1))
    assert np.array_equal(np.isnan(played.first_interaction_seconds), played.abandoned)
    assert not (played.conversions & ~played.clicks).any()
    assert np.nanmin(played.first_interaction_seconds) > 0
    slower = play_sessions(
        population, MODEL, users, items, SessionNoise.draw(5000, 8, np.random.default_rng(5)),
        Effect(first_interaction=0.5),
    )  # fmt: skip
    same = play_sessions(
        population, MODEL, users, items, SessionNoise.draw(5000, 8, np.random.default_rng(5))
    )
    engaged = ~same.abandoned
    assert np.allclose(
        slower.first_interaction_seconds[engaged], 1.5 * same.first_interaction_seconds[engaged]
    )


def test_potential_outcomes_share_users_and_the_truth_has_the_planted_sign(population):
    rng = np.random.default_rng(6)
    traffic = draw_traffic(population, days=3, k=10, policy=popular_policy, rng=rng)
    worlds = potential_outcomes(
        population, MODEL, traffic, {"control": Effect(), "treatment": Effect(attraction=0.1)}
    )
    c, t = worlds["control"], worlds["treatment"]
    assert np.array_equal(c.impressions, t.impressions)  # same sessions in both worlds
    assert np.all(t.clicks >= c.clicks)
    assert np.array_equal(c.pre_clicks, t.pre_clicks)  # the pre-period has no treatment
    truth = true_effects(
        population, MODEL, control=Effect(), treatment=Effect(attraction=0.1), days=3, k=10,
        policy=popular_policy, rng=rng, n_users=4000,
    )  # fmt: skip
    ctr_c, ctr_t = truth["ctr"]
    assert ctr_t / ctr_c == pytest.approx(1.1, rel=0.01)
    assert truth["session_abandonment"][1] < truth["session_abandonment"][0]
    assert metric_values(c)["ctr"] < metric_values(t)["ctr"]


def test_personalised_lists_beat_popular_ones(population):
    rng = np.random.default_rng(7)
    users = np.arange(population.n_users)
    personal = personalised_policy(population, users, 10, rng, noise=0.1)
    popular = popular_policy(population, users, 10, rng)
    assert MODEL.true_ctr(population, users, personal) > MODEL.true_ctr(population, users, popular)


def test_effect_below_minus_100_percent_is_refused():
    with pytest.raises(ValueError, match="^attraction: "):
        Effect(attraction=-1.5)
    with pytest.raises(ValueError, match="^watch: "):
        Effect(watch=float("nan"))


def test_population_fitted_from_ratings_keeps_ids_and_maps_unknown_items(tmp_path):
    rng = np.random.default_rng(8)
    lines = []
    for u in range(60):
        liked = rng.choice(40, 8, replace=False) + (0 if u % 2 else 40)  # two taste groups
        lines += [f"{u + 1}::{i + 1}::5::97830{u:04d}" for i in liked]
    path = tmp_path / "ratings.dat"
    path.write_text("\n".join(lines))
    pop = fit_population(path, rng=rng, n_items=60, dim=4)
    assert pop.fitted and pop.n_items == 60 and pop.n_users == 60
    assert set(pop.user_ids) == {str(u + 1) for u in range(60)}
    known = pop.item_indices([pop.item_ids[3]])
    assert known.tolist() == [3]
    unknown = pop.item_indices(["not-in-the-file", pop.item_ids[5]])
    assert unknown.tolist() == [-1, 5]
    neutral = MODEL.attraction(pop, np.array([0, 1]), np.array([[-1, 5], [-1, 5]]))
    assert neutral[0, 0] == neutral[1, 0] == pytest.approx(1 / (1 + np.exp(-MODEL.base_logit)))
    assert neutral[0, 1] != neutral[1, 1]  # known items: the users' own tastes
    # The factorisation separates the groups: a user's own group's items score higher.
    odd = pop.user_ids.astype(int) % 2 == 0  # user ids u + 1: even id -> u odd -> items 1..40
    group_a = np.isin(pop.item_ids.astype(int), np.arange(1, 41))
    scores = pop.user_factors @ pop.item_factors.T
    assert scores[np.ix_(odd, group_a)].mean() > scores[np.ix_(odd, ~group_a)].mean()
