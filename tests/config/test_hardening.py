"""Production hardening: secret keys refused at start, a CSP on responses, beat's state file
under SPLITLAB_VAR_DIR, and SQLite writers that queue instead of failing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from tests.config.test_configuration import (
    GOOD_SECRET,
    REPO_ROOT,
    SETUP,
    assert_one_line_naming,
    run_python,
)
from web.csp import CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "key",
    ["x", "short-but-not-empty", "a" * 80, "django-insecure-" + "k3y" * 20, "changeme"],
)
def test_a_short_or_known_secret_key_stops_production_start_up(key):
    assert_one_line_naming(run_python(SETUP, DJANGO_SECRET_KEY=key), "DJANGO_SECRET_KEY")


def test_a_long_random_secret_key_starts_and_debug_needs_none():
    assert run_python(SETUP, DJANGO_SECRET_KEY=GOOD_SECRET).returncode == 0
    assert run_python(SETUP, DJANGO_DEBUG="true").returncode == 0


def test_beat_keeps_its_schedule_under_the_var_dir(tmp_path):
    code = "from django.conf import settings; print(settings.CELERY_BEAT_SCHEDULE_FILENAME)"
    result = run_python(
        f"{SETUP}; {code}", DJANGO_SECRET_KEY=GOOD_SECRET, SPLITLAB_VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "celerybeat-schedule")


@pytest.mark.django_db
def test_production_responses_carry_a_content_security_policy(client):
    assert not settings.DEBUG
    for url in ("/healthz", "/admin/login/", "/api/docs/"):
        response = client.get(url, secure=True)
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY.split("script-src")[1].split(";")[0]


@pytest.mark.django_db
def test_the_docs_page_has_no_inline_script(client):
    """The CSP forbids inline scripts: Swagger UI's start-up code comes from a URL."""
    page = client.get("/api/docs/", secure=True).content.decode()
    assert "<script>" not in page and "?script=" in page
    script = client.get("/api/docs/?script=", secure=True)
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


# Each writer reads, waits for the other to have read too, then writes, all in one atomic
# block: under SQLite's default deferred transactions both hold a shared lock and one fails
# at once with "database is locked" although the busy timeout is 30 s.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import django
    django.setup()
    from django.db import connection, transaction
    name, barrier = sys.argv[1], Path(sys.argv[2])
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS w (name TEXT, n INTEGER)")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM w")
            (barrier / name).touch()
            deadline = time.monotonic() + 5
            while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)
            cursor.execute("INSERT INTO w VALUES (%s, 1)", [name])
    print("ok")
    """
)


def test_concurrent_sqlite_writers_queue_instead_of_failing(tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="true",
        SPLITLAB_VAR_DIR=str(tmp_path / "var"),
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, name, str(barrier)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    results = [writer.communicate(timeout=120) for writer in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0 and out.strip() == "ok", err[-2000:]
