"""Throttling per client and scope: 429 with Retry-After over the burst, then recovery."""

from __future__ import annotations

import time

import pytest
import redis
from django.test import override_settings
from rest_framework.test import APIClient

from accounts import throttling
from accounts.models import ApiClient
from accounts.services import create_api_client
from accounts.throttling import take

pytestmark = pytest.mark.django_db
REDIS_URL = "redis://127.0.0.1:6379/7"


def _client(name: str, limits: dict) -> APIClient:
    key, _ = create_api_client(name)
    ApiClient.objects.filter(name=name).update(rate_limits=limits)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _burst_then_recover(client: APIClient) -> None:
    codes = [client.get("/api/v1/ping").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/ping")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "throttled" in refused.json()["detail"].lower()
    time.sleep(0.3)  # 5 tokens a second: one is back after 0.2 s
    assert client.get("/api/v1/ping").status_code == 200


def test_over_the_burst_429_then_recovery_in_local_memory():
    _burst_then_recover(_client("bursty", {"any": {"rate": 5, "burst": 3}}))


def test_scopes_and_clients_have_their_own_buckets():
    client = _client("two-scopes", {"any": {"rate": 0.01, "burst": 1}})
    assert client.get("/api/v1/ping").status_code == 200
    assert client.get("/api/v1/ping").status_code == 429
    # Another scope of the same client is not spent...
    assert client.post("/api/v1/stats/sample-size", {}, format="json").status_code == 400
    # ...nor the same scope of another client.
    other = _client("other", {"any": {"rate": 0.01, "burst": 1}})
    assert other.get("/api/v1/ping").status_code == 200


def test_default_limits_apply_and_can_be_turned_off(settings):
    settings.SPLITLAB_THROTTLE_RATES = {"any": {"rate": 0.01, "burst": 2}}
    client = _client("defaults", {})
    assert [client.get("/api/v1/ping").status_code for _ in range(3)] == [200, 200, 429]
    settings.SPLITLAB_THROTTLE_ENABLED = False
    assert client.get("/api/v1/ping").status_code == 200


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis at 127.0.0.1:6379")
def test_over_the_burst_429_then_recovery_in_redis():
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-throttle-{time.time_ns()}",
        }
    }
    with override_settings(CACHES=caches):
        client = _client("bursty-redis", {"any": {"rate": 5, "burst": 3}})
        _burst_then_recover(client)
        # The bucket is in Redis (shared by every process), not in this process's memory.
        assert not throttling._local
        stored = redis.Redis.from_url(REDIS_URL).keys(f"{caches['default']['KEY_PREFIX']}*")
        assert stored


def test_token_bucket_arithmetic():
    assert take(3.0, 0.0, 0.0, 5.0, 3.0) == (True, 2.0, 0.0)
    allowed, tokens, wait = take(0.5, 10.0, 10.0, 5.0, 3.0)
    assert (allowed, tokens) == (False, 0.5) and wait == pytest.approx(0.1)
    # A long pause refills to the burst, never beyond.
    assert take(0.0, 0.0, 100.0, 5.0, 3.0) == (True, 2.0, 0.0)


@pytest.mark.skipif(not _redis_up(), reason="needs Redis at 127.0.0.1:6379")
def test_a_process_leases_tokens_and_never_exceeds_the_limit(monkeypatch):
    prefix = f"test-lease-{time.time_ns()}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    monkeypatch.setattr(throttling, "LEASE_SECONDS", 1000.0)
    with override_settings(CACHES=caches):
        # lease = min(burst / 4, rate * LEASE_SECONDS) = 2 tokens per Redis call
        first = throttling._take("lease", 0.01, 8)
        stored = redis.Redis.from_url(REDIS_URL).hget(f"{prefix}:1:lease", "tokens")
        assert first[0] and float(stored) == pytest.approx(6.0, abs=0.01)
        rest = [throttling._take("lease", 0.01, 8)[0] for _ in range(8)]
    assert rest == [True] * 7 + [False]
