"""Shared fixtures: API clients with and without a token, a staff user."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_client


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
