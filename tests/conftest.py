"""Shared fixtures: fresh assignment state, API clients with and without a token, staff."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_client
from assignment import config_cache, exposure_log


@pytest.fixture(autouse=True)
def fresh_assignment_state():
    """Every test starts with an empty experiment cache and exposure buffer: both live for
    the whole process, and SQLite reuses ids across rolled-back tests."""
    config_cache.invalidate_local()
    exposure_log.buffer.clear()
    yield
    exposure_log.buffer.clear()
    config_cache.invalidate_local()


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_client(db) -> APIClient:
    """An API client authenticated with a real token."""
    token, _ = create_api_client("tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")


@pytest.fixture
def staff_client(client, staff_user):
    """A Django test client logged in as staff (for admin and report pages)."""
    client.force_login(staff_user)
    return client
