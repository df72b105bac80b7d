"""The off-policy pages: the estimate table with coverage and the link to an A/B test (a
prefilled creation form), a bad query answered 400 naming the problem, and the CSV export of
served lists with their propensities."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from analytics.models import ServedList
from recommenders.models import RecommenderConfig
from recommenders.serving import model_cache
from recommenders.serving import selectors as serving_selectors
from tests.recommenders.serving_data import load_planted_catalogue, make_config
from tests.recommenders.test_offpolicy_evaluation import DAY, _serve_and_click, _trained

pytestmark = pytest.mark.django_db
PAGE = "/reports/offpolicy/estimate/"


@pytest.fixture(autouse=True)
def logged(settings, tmp_path: Path):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    load_planted_catalogue()
    production = _trained(
        "production", is_default=True, exploration_mode="plackett_luce", exploration_pool=10,
        exploration_temperature=6.0,
    )  # fmt: skip
    _serve_and_click(production.config_id, 120)
    _trained("candidate-same")
    yield production
    serving_selectors.clear_caches()
    model_cache.reset_cache()


def test_the_page_shows_every_estimator_and_links_to_a_prefilled_ab_test(admin_client):
    page = admin_client.get(PAGE, {"candidate": "candidate-same", "since": "2026-11-01"})
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("production (observed)", "DM", "IIPS", "SNIIPS", "DR", "PI"):
        assert f"<td>{name}</td>" in html
    assert "Plackett-Luce pools; Gram matrices from" in html  # which lists PI used
    link = page.context["experiment_link"]
    assert link.startswith("/experiments/new/?")
    form = admin_client.get(link).context["form"]
    candidate = RecommenderConfig.objects.get(name="candidate-same")
    production = RecommenderConfig.objects.get(name="production")
    assert form["variant_1_config"].value() == str(candidate.pk)
    assert form["variant_0_config"].value() == str(production.pk)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"candidate": "candidate-same", "since": "yesterday"}, "logged-since"),
        ({"candidate": "nobody", "since": "2026-11-01"}, "no recommender configuration"),
        ({"candidate": "candidate-same", "since": "2026-12-01"}, "no traffic"),
        ({"candidate": "candidate-same", "since": "2026-11-01", "clip": "-1"}, "clip"),
        ({"candidate": "untrained", "since": "2026-11-01"}, "no active model version"),
        ({"candidate": "candidate-same", "since": "2026-11-01", "surface": "old"},
         "carries propensities"),
    ],
)  # fmt: skip
def test_a_bad_query_is_a_400_naming_the_problem(admin_client, query, message):
    make_config("untrained", "item_cf")
    ServedList.objects.create(  # served before exploration logging: no propensities
        request_id="old-1", user_id="a0", surface="old", served_at=DAY,
        items=[{"item_id": "A1", "position": 1, "score": 1.0, "source": "model"}],
    )  # fmt: skip
    page = admin_client.get(PAGE, query)
    assert page.status_code == 400 and message in page.context["error"]
    assert "report" not in page.context


def test_the_page_is_for_staff_only(client):
    assert client.get(PAGE).status_code == 302


def test_the_export_has_a_propensity_for_every_served_position(admin_client):
    response = admin_client.get("/reports/offpolicy/served.csv", {"since": "2026-11-01"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 120 * 5
    assert {row["policy"] for row in rows} == {"plackett_luce"}
    assert all(0 < float(row["propensity"]) <= 1 for row in rows)
    assert all(float(row["step_propensity"]) <= 1 for row in rows)
    clicks = sum(int(row["clicked"]) for row in rows)
    assert clicks > 0
    bad = admin_client.get("/reports/offpolicy/served.csv", {"since": "Nov"})
    assert bad.status_code == 400 and b"logged-since" in bad.content
