"""While the database is unreachable: events get 503 with Retry-After and nothing is stored;
assignment keeps answering from the configuration and the tokens it had verified."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import OperationalError
from django.urls import reverse

from analytics.models import Event
from analytics.services import ingestion
from assignment import config_cache
from tests.assignment.factories import running_experiment

pytestmark = pytest.mark.django_db


def _event(n: int) -> dict:
    return {
        "event_id": f"outage-{n}",
        "type": "click",
        "user_id": "u",
        "timestamp": datetime.now(UTC).isoformat(),
        "request_id": "r",
        "item_id": "i",
        "position": 1,
    }


def test_a_batch_that_cannot_be_stored_gets_503_with_retry_after(api_client, monkeypatch):
    real_insert = ingestion.bulk.insert_new_rows

    def down_midway(table, columns, rows, **kwargs):  # the first row "works", then the link drops
        real_insert(table, columns, rows[:1], **kwargs)
        raise OperationalError("connection to server was lost")

    monkeypatch.setattr(ingestion.bulk, "insert_new_rows", down_midway)
    response = api_client.post("/api/v1/events", [_event(1), _event(2)], format="json")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "again later" in response.json()["detail"]
    assert not Event.objects.exists()  # nothing partial: the batch's transaction rolled back


def test_assignment_answers_from_memory_while_the_database_is_down(
    api_client, monkeypatch, settings
):
    running_experiment("outage")
    url = reverse("api:assignments")
    assert api_client.post(url, {"user_id": "before"}, format="json").status_code == 200
    settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = 0  # every call checks the database
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 1e-9  # every call re-verifies the token

    def down() -> str:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(config_cache, "_current_token", down)
    monkeypatch.setattr(
        "rest_framework.authentication.TokenAuthentication.authenticate_credentials",
        lambda self, key: down(),
    )
    response = api_client.post(url, {"user_id": "during"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["assignments"][0]["experiment"] == "outage"
