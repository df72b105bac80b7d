"""Schema, offline docs, health with a broker down, and API client tokens."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import ApiClient


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Splitlab API"
    assert "/api/v1/ping" in schema["paths"]


@pytest.mark.django_db
def test_interactive_docs_are_served_offline(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    # Every script and stylesheet comes from our own static files, none from a CDN.
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    static = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert static.status_code == 200


@pytest.mark.django_db
def test_healthz_names_the_broker_when_it_is_down(client):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")
    assert body["status"] == "down: broker"


@pytest.mark.django_db
def test_create_api_client_command_prints_a_working_token():
    out = StringIO()
    call_command("create_api_client", "mobile-app", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/ping").status_code == 200
    # Running it again issues another key to the same client (keys are stored hashed, so the
    # first cannot be shown again); both work.
    again = StringIO()
    call_command("create_api_client", "mobile-app", stdout=again, stderr=StringIO())
    second = again.getvalue().strip()
    assert second != token
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/v1/ping").status_code == 200
    assert ApiClient.objects.filter(name="mobile-app").count() == 1


@pytest.mark.django_db
def test_wrong_token_is_rejected(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous_client.get("/api/v1/ping").status_code == 401
