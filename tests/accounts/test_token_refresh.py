"""With background threads each web process's refresher holds every valid API key in memory:
a request with a known key reads no database (even its process's first), and a key revoked
elsewhere is dropped at the refresher's next turn, then refused by the request's own read."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from accounts import authentication
from accounts.authentication import ApiKeyAuthentication, refresh_token_cache
from accounts.models import ApiKey
from accounts.services import create_api_client
from web import background

pytestmark = pytest.mark.django_db


def test_the_refresher_holds_every_valid_key_and_drops_one_revoked_elsewhere(
    settings, monkeypatch, django_assert_num_queries
):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 10
    kept, _ = create_api_client("kept")
    revoked, _ = create_api_client("revoked")
    expired, _ = create_api_client("expired")
    ApiKey.objects.filter(client__name="expired").update(expires_at=timezone.now())
    assert refresh_token_cache() == 2  # the expired key is not held
    monkeypatch.setattr(background, "running", lambda: True)
    auth = ApiKeyAuthentication()
    with django_assert_num_queries(0):  # never verified by a request of this process
        user, key = auth.authenticate_credentials(kept)
    assert key.client.name == "kept"
    # Revoked by another process (a queryset update: no signal reaches this one).
    ApiKey.objects.filter(client__name="revoked").update(revoked_at=timezone.now())
    auth.authenticate_credentials(revoked)  # until the refresher's next turn
    refresh_token_cache()
    with pytest.raises(AuthenticationFailed, match="expired or revoked"):
        auth.authenticate_credentials(revoked)  # not held any more: read, and refused
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 0.001
    time.sleep(0.01)
    with django_assert_num_queries(0):  # past the TTL: the refresher re-reads it, not this
        auth.authenticate_credentials(kept)


def test_a_change_in_this_process_during_a_refresh_is_not_undone(settings, monkeypatch):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 10
    key, _ = create_api_client("changing")
    real_expiry = authentication._expiry_epoch

    def revoke_after_the_read(api_key: ApiKey) -> float:  # runs once the rows are read
        stored = ApiKey.objects.get(pk=api_key.pk)
        stored.revoked_at = timezone.now()
        stored.save(update_fields=["revoked_at"])  # this process's signal forgets the key
        return real_expiry(api_key)

    monkeypatch.setattr(authentication, "_expiry_epoch", revoke_after_the_read)
    assert refresh_token_cache() == 0  # read before the change: not stored
    monkeypatch.undo()
    with pytest.raises(AuthenticationFailed, match="expired or revoked"):
        ApiKeyAuthentication().authenticate_credentials(key)
