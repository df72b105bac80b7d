"""Token authentication remembered per process, and revocations that take effect."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.authentication import digest_of
from accounts.models import ApiKey
from accounts.services import create_api_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/ping"


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _token_queries(client: APIClient) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return sum("accounts_apikey" in q["sql"] for q in queries.captured_queries)


def test_a_verified_token_is_not_read_again_within_the_cache_time(settings):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 60
    client = _client(create_api_client("cached")[0])
    assert _token_queries(client) == 1
    assert _token_queries(client) == 0


def test_without_cache_every_request_reads_the_token(settings):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 0
    client = _client(create_api_client("uncached")[0])
    assert [_token_queries(client), _token_queries(client)] == [1, 1]


def test_a_deleted_token_or_deactivated_user_is_refused_at_once(settings):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 60
    token, _ = create_api_client("revoked")
    client = _client(token)
    assert client.get(URL).status_code == 200
    ApiKey.objects.get(key_hash=digest_of(token)).delete()
    assert client.get(URL).status_code == 401
    token, _ = create_api_client("deactivated")
    client = _client(token)
    assert client.get(URL).status_code == 200
    user = get_user_model().objects.get(username="client:deactivated")
    user.is_active = False
    user.save()
    assert client.get(URL).status_code == 401


def test_unknown_tokens_are_refused_and_not_remembered(settings):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 60
    assert _client("0" * 40).get(URL).status_code == 401
    assert _client("0" * 40).get(URL).status_code == 401
