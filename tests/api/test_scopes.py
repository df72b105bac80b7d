"""Every API endpoint, called with each scope: allowed, 403 naming the missing scope, 401
anonymous."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.scopes import ALL_SCOPES
from accounts.services import create_api_client
from experiments.api.views import ACTIONS

pytestmark = pytest.mark.django_db
API = "/api/v1"

# (method, path, the scopes any one of which lets the call through)
ENDPOINTS = [
    ("post", "/assignments", {"serve"}),
    ("post", "/assignments/batch", {"serve"}),
    ("get", "/recommendations?user_id=u1&surface=home", {"serve"}),
    ("get", "/users/u1/preferences", {"serve"}),
    ("put", "/users/u1/preferences", {"serve"}),
    ("post", "/events", {"serve"}),
    ("post", "/stats/sample-size", {"analyze"}),
    ("post", "/stats/analyze", {"analyze"}),
    ("get", "/recommendations/metrics", {"analyze"}),
    ("post", "/recommender-configs/nope/train", {"models"}),
    ("post", "/recommender-configs/nope/rollback", {"models"}),
    ("get", "/model-versions/999999", {"models", "manage", "analyze"}),
    ("post", "/model-versions/999999/promote", {"models"}),
    ("get", "/experiments", {"analyze", "manage"}),
    ("post", "/experiments", {"manage"}),
    ("get", "/experiments/nope", {"analyze", "manage"}),
    ("patch", "/experiments/nope", {"manage"}),
    *(("post", f"/experiments/nope/{action}", {"manage"}) for action in ACTIONS),
    ("get", "/experiments/nope/results", {"analyze"}),
    ("get", "/layers", {"analyze", "manage"}),
    ("post", "/layers", {"manage"}),
    ("get", "/holdouts", {"analyze", "manage"}),
    ("post", "/holdouts", {"manage"}),
    ("get", "/metrics", {"analyze", "manage"}),
    ("post", "/metrics", {"manage"}),
    ("get", "/recommender-configs", {"analyze", "manage"}),
    ("post", "/recommender-configs", {"manage"}),
]


def _client(scopes: list[str] | None) -> APIClient:
    client = APIClient()
    if scopes is not None:
        key, _ = create_api_client("scoped-" + "-".join(scopes), scopes=scopes)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _call(client: APIClient, method: str, path: str):
    return getattr(client, method)(API + path, {}, format="json")


@pytest.mark.parametrize(("method", "path", "allowed"), ENDPOINTS)
def test_every_scope_on_every_endpoint(method, path, allowed):
    assert _call(_client(None), method, path).status_code == 401
    for scope in ALL_SCOPES:
        response = _call(_client([scope]), method, path)
        if scope in allowed:
            assert response.status_code not in (401, 403), (scope, response.content)
        else:
            assert response.status_code == 403, (scope, response.content)
            detail = response.json()["detail"]
            assert "missing scope" in detail
            assert all(repr(needed) in detail for needed in allowed), detail


def test_ping_needs_no_scope_but_a_key():
    assert _call(_client(None), "get", "/ping").status_code == 401
    assert _call(_client(["serve"]), "get", "/ping").status_code == 200


def test_a_client_with_every_scope_reaches_every_endpoint():
    client = _client(list(ALL_SCOPES))
    for method, path, _ in ENDPOINTS:
        assert _call(client, method, path).status_code not in (401, 403), path


def test_staff_in_a_session_hold_the_scopes_of_their_role(django_user_model):
    from django.contrib.auth.models import Group

    analyst = django_user_model.objects.create_user("ann", password="pw", is_staff=True)
    analyst.groups.add(Group.objects.get(name="Analyst"))
    client = APIClient()
    client.force_login(analyst)
    allowed = _call(client, "post", "/stats/sample-size")
    assert allowed.status_code != 403, allowed.content
    response = _call(client, "post", "/model-versions/1/promote")
    assert response.status_code == 403
    assert "'models'" in response.json()["detail"]
