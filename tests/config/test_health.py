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
