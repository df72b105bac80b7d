"""Rehearsals: detection grows with the days run, a null effect is found about alpha of the time."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from analytics.stats import analyze_metric
from simulator.behaviour import BehaviourModel, Effect
from simulator.population import generate_population
from simulator.rehearsal import arriving_traffic, rehearse
from simulator.traffic import popular_policy


def _analyze_in_process(body: dict) -> dict:
    """What POST /api/v1/stats/analyze answers, computed by the same function."""
    from analytics.stats import SufficientStats

    result = analyze_metric(
        body["kind"],
        SufficientStats(**body["control"]),
        SufficientStats(**body["treatment"]),
        alpha=body["alpha"],
        cuped=body["cuped"],
    )
    return {"p_value": result.p_value, "absolute_effect": result.absolute_effect}


POP = generate_population(300, 80, rng=np.random.default_rng(0))


def test_users_arrive_over_the_days_and_have_their_first_session_on_arrival():
    traffic = arriving_traffic(
        POP, days=4, k=5, policy=popular_policy, rng=np.random.default_rng(1)
    )
    first = np.full(POP.n_users, np.inf)
    np.minimum.at(first, traffic.session_users, traffic.session_days)
    assert np.all(np.isfinite(first)) and np.all(first < 4)
    by_day = np.histogram(first, bins=4, range=(0, 4))[0]
    assert by_day.min() > 0.15 * POP.n_users  # uniform arrivals, about a quarter a day


def test_a_large_effect_is_found_more_often_with_more_days_and_no_effect_rarely():
    rng = np.random.default_rng(2)
    kwargs = dict(users_per_day=150, days=3, replicates=12, rng=rng)
    big = rehearse(_analyze_in_process, POP, BehaviourModel(), Effect(attraction=0.6), **kwargs)
    assert [d.day for d in big] == [1, 2, 3]
    assert big[0].exposed_users < big[1].exposed_users < big[2].exposed_users
    assert big[2].detection_rate >= big[0].detection_rate and big[2].detection_rate >= 0.75
    null = rehearse(_analyze_in_process, POP, BehaviourModel(), Effect(), **kwargs)
    assert null[-1].detection_rate <= 0.25


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulate_rehearse_prints_a_line_per_day_through_the_api(live_server):
    from accounts.services import create_api_client

    token, _ = create_api_client("simulator")
    out = StringIO()
    call_command(
        "simulate", "--rehearse", "--base-url", live_server.url, "--token", token,
        "--users-per-day", "100", "--days", "2", "--replicates", "2", "--planted-lift", "0.5",
        "--population", "100", "--items", "40", stdout=out,
    )  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("day 1: ") and lines[1].startswith("day 2: ")
    assert "of 2 rehearsals" in lines[0]
    assert "find the effect" in lines[2]
