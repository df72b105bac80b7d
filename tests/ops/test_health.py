import time

import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["database"] == "ok"
    assert response.json()["broker"] == "ok"


def test_api_requires_authentication(anonymous_client, db):
    response = anonymous_client.get("/api/v1/ping")
    assert response.status_code == 401


def test_api_answers_with_token(api_client):
    assert api_client.get("/api/v1/ping").json() == {"pong": True}


@pytest.mark.django_db
def test_healthz_reports_serving_workers_by_their_heartbeats(client, settings, tmp_path):
    from ops import heartbeat

    settings.VAR_DIR = tmp_path
    settings.CELERY_BROKER_URL = "filesystem://"
    body = client.get("/healthz").json()
    assert body["serving"].startswith("down: no serving worker heartbeat")
    assert body["status"] == "degraded: serving"
    heartbeat.beat()
    body = client.get("/healthz").json()
    assert body["serving"] == "ok: 1 processes" and body["status"] == "ok"
    stale = time.time() - settings.SPLITLAB_HEARTBEAT_STALE_SECONDS - 1
    heartbeat.beat(now=stale)
    assert client.get("/healthz").json()["serving"].startswith("down")
