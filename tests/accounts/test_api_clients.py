"""API clients: hashed keys, scopes chosen at creation, rotation, expiry, revocation."""

from __future__ import annotations

import hashlib
import importlib
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ApiClient, ApiKey
from accounts.services import create_api_client, do_revoke_api_client, do_rotate_api_key

pytestmark = pytest.mark.django_db
PING = "/api/v1/ping"


def _status(key: str, url: str = PING) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(url).status_code


def test_only_the_digest_of_a_key_is_stored():
    key, created = create_api_client("hashed", scopes=["serve"])
    assert created and len(key) == 40
    stored = ApiKey.objects.get(client__name="hashed")
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        rows = cursor.fetchall()
    assert rows and not any(key in str(value) for row in rows for value in row)
    assert _status(key) == 200


def test_the_command_chooses_scopes_and_refuses_unknown_ones():
    out = StringIO()
    call_command(
        "create_api_client", "app", "--scopes", "serve,analyze", stdout=out, stderr=StringIO()
    )
    assert ApiClient.objects.get(name="app").scopes == ["serve", "analyze"]
    with pytest.raises(CommandError, match="unknown 'deploy'"):
        call_command("create_api_client", "bad", "--scopes", "serve", "deploy", stderr=StringIO())
    assert not ApiClient.objects.filter(name="bad").exists()


def _move_clock(monkeypatch, to):
    """Both clocks authentication reads: the wall clock and Django's ``timezone.now``."""
    monkeypatch.setattr(time, "time", lambda: to.timestamp())
    monkeypatch.setattr(timezone, "now", lambda: to)


def test_a_key_created_with_a_lifetime_expires(settings, monkeypatch):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 3600
    key, _ = create_api_client("short-lived", lifetime=timedelta(hours=1))
    assert _status(key) == 200
    # Refused even though this process remembers the key as verified.
    _move_clock(monkeypatch, timezone.now() + timedelta(hours=1, seconds=1))
    assert _status(key) == 401
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 0
    assert _status(key) == 401  # and when read from the database


def test_rotation_keeps_the_old_key_for_the_overlap_only(settings, monkeypatch):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 0
    old, _ = create_api_client("rotating")
    new, ends = do_rotate_api_key("rotating", overlap=timedelta(minutes=30))
    assert new != old
    assert (_status(old), _status(new)) == (200, 200)
    _move_clock(monkeypatch, ends + timedelta(seconds=1))
    assert (_status(old), _status(new)) == (401, 200)


def test_rotation_command_prints_the_new_key():
    create_api_client("cmd-rotate")
    out = StringIO()
    call_command(
        "rotate_api_key", "cmd-rotate", "--overlap-hours", "0", stdout=out, stderr=StringIO()
    )
    assert _status(out.getvalue().strip()) == 200
    with pytest.raises(CommandError, match="no API client 'ghost'"):
        call_command("rotate_api_key", "ghost", stderr=StringIO())


def test_revocation_reaches_other_processes_within_the_cache_time(settings):
    from accounts import authentication

    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 5
    key, _ = create_api_client("revoked")
    assert _status(key) == 200
    # Another process saw the key verified, then the revocation happened elsewhere: model it
    # by revoking without this process's signals (a queryset update sends none).
    ApiKey.objects.filter(client__name="revoked").update(revoked_at=timezone.now())
    assert _status(key) == 200  # still trusted here, within the cache time
    digest = next(iter(authentication._cache))
    verified, user, api_key, ends = authentication._cache[digest]
    authentication._cache[digest] = (verified - 5.1, user, api_key, ends)  # the time passed
    assert _status(key) == 401


def test_revocation_in_this_process_is_immediate(settings):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 60
    key, _ = create_api_client("gone")
    assert _status(key) == 200
    assert do_revoke_api_client("gone") == 1
    assert _status(key) == 401


def test_changing_scopes_takes_effect_at_once(settings):
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 60
    key, _ = create_api_client("narrowed")
    assert _status(key, "/api/v1/recommendations/metrics") == 200
    client = ApiClient.objects.get(name="narrowed")
    client.scopes = ["serve"]
    client.save()
    assert _status(key, "/api/v1/recommendations/metrics") == 403


def test_existing_tokens_migrate_to_hashed_keys_with_every_scope():
    migration = importlib.import_module("accounts.migrations.0002_tokens_to_hashed_keys")
    user = get_user_model().objects.create(username="client:legacy")
    token = Token.objects.create(user=user)
    migration.forwards(apps, None)
    assert not Token.objects.exists()
    client = ApiClient.objects.get(user=user)
    assert (client.name, client.scopes) == ("legacy", ["serve", "analyze", "manage", "models"])
    assert _status(token.key, "/api/v1/recommendations/metrics") == 200


def test_the_admin_creates_a_client_with_scopes_and_shows_its_key_once(staff_client):
    response = staff_client.post(
        "/admin/accounts/apiclient/add/",
        {
            "name": "admin-made",
            "scopes": ["analyze"],
            "rate_limits": "{}",
            "lifetime_days": "",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "shown only now" in str(m)]
    assert len(shown) == 1
    key = shown[0].split("Key of admin-made: ")[1].split(" ")[0]
    assert ApiClient.objects.get(name="admin-made").scopes == ["analyze"]
    assert _status(key, "/api/v1/recommendations/metrics") == 200
    assert _status(key, "/api/v1/model-versions/1/promote") in (403, 405)
