"""``evaluate_offpolicy``: a candidate's CTR estimated from lists production served with
Plackett-Luce exploration, on the planted catalogue with clicks simulated from a known
position-based model (so each candidate's true CTR is known); and the bad inputs that must
give one line naming the problem, never a number."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.models import Event, ServedList
from analytics.services.ingestion import record_served_lists
from recommenders.selectors import offpolicy
from recommenders.selectors.offpolicy import evaluate_candidate, parse_window
from recommenders.services import training
from recommenders.serving import model_cache, worker
from recommenders.serving import selectors as serving_selectors
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 11, 2, 12, tzinfo=UTC)
EXAMINATION = 1.0 / np.arange(1, 6)  # theta_j of the simulated position-based model


@pytest.fixture(autouse=True)
def serving_state(settings, tmp_path: Path):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    yield
    serving_selectors.clear_caches()
    model_cache.reset_cache()


def _relevance(user_id: str, item_id: str) -> float:
    return 0.6 if user_id[0].upper() == item_id[0] else 0.05


def _trained(name: str, **fields):
    config = make_config(name, "item_cf", **fields)
    return training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)


def _serve_and_click(config_id: int, n_requests: int, seed: int = 0) -> None:
    """Production serves through the worker (seeded per request id); clicks follow the
    simulated model."""
    rng = np.random.default_rng(seed)
    users = [f"{g}{u}" for g in "ab" for u in range(15)]
    rows, clicks = [], []
    for n in range(n_requests):
        user, request_id = users[n % len(users)], f"req-{n}"
        answer = worker.recommend_with_warm_model(config_id, user, 5, {"request_id": request_id})
        items = [{**item, "position": j + 1} for j, item in enumerate(answer["items"])]
        rows.append(
            {"request_id": request_id, "user_id": user, "surface": "home", "items": items,
             "exploration": answer["exploration"], "served_at": DAY + timedelta(seconds=n)}
        )  # fmt: skip
        for j, item in enumerate(items):
            if rng.random() < EXAMINATION[j] * _relevance(user, item["item_id"]):
                clicks.append(
                    Event(event_id=f"c-{n}-{j}", type="click", user_id=user, ts=DAY,
                          request_id=request_id, item_id=item["item_id"], position=j + 1,
                          received_at=DAY)
                )  # fmt: skip
    record_served_lists(rows)
    Event.objects.bulk_create(clicks)


def _true_clicks_per_list(config_id: int, n_requests: int) -> float:
    users = [f"{g}{u}" for g in "ab" for u in range(15)]
    loaded = model_cache.warm_version(config_id)
    total = 0.0
    for n in range(n_requests):
        user = users[n % len(users)]
        items, _, _ = worker.recommend_for_user(loaded, user, 5, {}, worker.ExplorationSettings())
        total += sum(
            EXAMINATION[j] * _relevance(user, item["item_id"]) for j, item in enumerate(items)
        )
    return total / n_requests


@pytest.fixture
def logged():
    load_planted_catalogue()
    production = _trained(
        "production", exploration_mode="plackett_luce", exploration_pool=10,
        exploration_temperature=6.0,
    )  # fmt: skip
    _serve_and_click(production.config_id, 600)
    return production


def test_a_candidate_like_production_is_estimated_within_its_interval(logged):
    candidate = _trained("candidate-same")
    report = evaluate_candidate("candidate-same", DAY - timedelta(days=1))
    truth = _true_clicks_per_list(candidate.config_id, 600)
    assert report.n_lists == 600 and report.k == 5 and report.n_users == 30
    rows = {row.estimator: row for row in report.estimates}
    assert set(rows) == {"DM", "IIPS", "SNIIPS", "DR", "PI"}
    # PI is estimable here but not held to the interval: with 20 lists per pool its
    # pseudo-weights (some negative, heavy-tailed) make a normal interval unreliable
    assert rows["PI"].clicks_per_list is not None and rows["PI"].note
    for name in ("SNIIPS", "DR", "IIPS"):
        low, high = rows[name].ci_per_list
        assert low <= truth <= high, (name, truth, rows[name])
        assert rows[name].ctr == pytest.approx(rows[name].clicks_per_list / 5)
    assert report.production.clicks_per_list == pytest.approx(report.n_clicks / 600)


def test_a_candidate_showing_what_production_never_shows_is_flagged(logged):
    _trained("candidate-blind", rules={"blocked_categories": ["Alpha"]})
    report = evaluate_candidate("candidate-blind", DAY - timedelta(days=1))
    rows = {row.estimator: row for row in report.estimates}
    assert rows["IIPS"].warnings and any("support" in w for w in rows["IIPS"].warnings)
    assert rows["DR"].clicks_per_list < report.production.clicks_per_list


def test_the_command_prints_every_estimator_and_writes_json(logged, tmp_path, capsys, monkeypatch):
    _trained("candidate-same")
    monkeypatch.setattr(offpolicy, "CLICK_BATCH", 7)  # clicks read in several batches
    out = tmp_path / "report.json"
    call_command(
        "evaluate_offpolicy", "--candidate", "candidate-same", "--logged-since", "2026-11-01",
        "--until", "2026-11-02", "--surface", "home", "--clip", "50", "--json", str(out),
    )  # fmt: skip
    printed = capsys.readouterr().out
    for name in ("production (observed)", "DM", "IIPS", "SNIIPS", "DR", "PI"):
        assert f"\n{name}" in printed
    assert "note: on 600 of 600 lists: 30 of 30 Plackett-Luce pools" in printed
    data = json.loads(out.read_text())
    assert data["n_lists"] == 600 and data["clip"] == 50.0 and len(data["estimates"]) == 5
    assert data["n_clicks"] == Event.objects.filter(type="click").count()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--candidate", "nobody", "--logged-since", "2026-11-01"], "no recommender config"),
        (["--candidate", "untrained", "--logged-since", "2026-11-01"], "no active model version"),
        (["--candidate", "candidate-same", "--logged-since", "2026-12-01"], "no traffic"),
        (["--candidate", "candidate-same", "--logged-since", "2026-11-01", "--surface", "old"],
         "carries propensities"),
        (["--candidate", "candidate-same", "--logged-since", "Nov 1"], "logged-since"),
        (["--candidate", "candidate-same", "--logged-since", "2026-11-01", "--clip", "0"],
         "--clip"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_problem(arguments, message):
    load_planted_catalogue()
    _trained("candidate-same")
    make_config("untrained", "item_cf")
    ServedList.objects.create(  # served before exploration logging: no propensities
        request_id="old-1", user_id="a0", surface="old", served_at=DAY,
        items=[{"item_id": "A1", "position": 1, "score": 1.0, "source": "model"}],
    )  # fmt: skip
    with pytest.raises(CommandError, match=message) as error:
        call_command("evaluate_offpolicy", *arguments)
    assert "\n" not in str(error.value)


def test_window_bounds_are_whole_utc_days():
    since, until = parse_window("2026-11-01", "2026-11-02")
    assert since == datetime(2026, 11, 1, tzinfo=UTC)
    assert until == datetime(2026, 11, 3, tzinfo=UTC)


def test_lists_beyond_the_limit_are_counted_as_excluded(logged):
    _trained("candidate-same")
    report = evaluate_candidate("candidate-same", DAY - timedelta(days=1), max_lists=250)
    assert report.n_lists == 250
    assert report.excluded == {"after the first 250 of the window": 350}


def test_pi_without_plackett_luce_lists_says_so_instead_of_a_number():
    load_planted_catalogue()
    production = _trained("production", exploration_mode="epsilon_greedy", exploration_epsilon=0.5)
    _serve_and_click(production.config_id, 200)
    _trained("candidate-same")
    report = evaluate_candidate("candidate-same", DAY - timedelta(days=1))
    rows = {row.estimator: row for row in report.estimates}
    assert rows["PI"].clicks_per_list is None
    assert rows["PI"].error.startswith("logs: PI needs lists served with Plackett-Luce")
    assert rows["DR"].clicks_per_list is not None


def test_pi_uses_at_most_the_given_number_of_pools(logged):
    _trained("candidate-same")
    report = evaluate_candidate("candidate-same", DAY - timedelta(days=1), pi_max_contexts=5)
    pi = {row.estimator: row for row in report.estimates}["PI"]
    assert pi.note.startswith("on 100 of 600 lists: 5 of 30 Plackett-Luce pools")
