"""Start-up with bad configuration fails with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "x" * 30 + "-production-like-secret-key-0123456789"


def run_python(code: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    env.pop("DATABASE_URL", None)
    env["SPLITLAB_VAR_DIR"] = str(REPO_ROOT / "var" / "test-config")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, *code.split()]
        if code.startswith("manage.py") or code.startswith("-m")
        else [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess, variable: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


SETUP = "import django; django.setup()"


def test_missing_secret_key_with_debug_off_stops_start_up():
    assert_one_line_naming(run_python(SETUP), "DJANGO_SECRET_KEY")


def test_malformed_broker_url_stops_start_up():
    result = run_python(SETUP, DJANGO_SECRET_KEY=GOOD_SECRET, CELERY_BROKER_URL="redis://:x:y")
    assert_one_line_naming(result, "CELERY_BROKER_URL")


def test_unsupported_broker_scheme_stops_start_up():
    result = run_python(SETUP, DJANGO_SECRET_KEY=GOOD_SECRET, CELERY_BROKER_URL="ftp://host/")
    assert_one_line_naming(result, "CELERY_BROKER_URL")


def test_a_negative_fallback_read_bound_stops_start_up():
    result = run_python(SETUP, DJANGO_SECRET_KEY=GOOD_SECRET, SPLITLAB_FALLBACK_READ_MS="-1")
    assert_one_line_naming(result, "SPLITLAB_FALLBACK_READ_MS")


def test_malformed_database_url_stops_start_up():
    result = run_python(SETUP, DJANGO_SECRET_KEY=GOOD_SECRET, DATABASE_URL="oracle-ish://nope")
    assert_one_line_naming(result, "DATABASE_URL")


def test_unreachable_database_stops_commands_with_one_line():
    result = run_python(
        "manage.py migrate",
        DJANGO_SECRET_KEY=GOOD_SECRET,
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing",
    )
    assert_one_line_naming(result, "DATABASE_URL")


def test_unreachable_database_stops_make_run_before_serving():
    result = run_python(
        "-m ops.launcher",
        DJANGO_DEBUG="true",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing",
    )
    assert_one_line_naming(result, "DATABASE_URL")


@pytest.mark.embedded
def test_deploy_check_is_clean_with_production_like_values():
    result = run_python(
        "manage.py check --deploy --fail-level WARNING",
        DJANGO_SECRET_KEY=GOOD_SECRET,
        DJANGO_ALLOWED_HOSTS="splitlab.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_pure_packages_import_no_django_and_web_imports_no_torch():
    """Pure math stays pure; web code never imports torch or faiss at import time."""
    code = (
        "import sys, importlib\n"
        "for name in ['assignment.hashing', 'analytics.stats', 'recommenders.core',"
        " 'recommenders.core.registry']:\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in ('django', 'rest_framework', 'celery') if m in sys.modules]\n"
        "assert not bad, f'pure packages imported {bad}'\n"
        "import django; django.setup()\n"
        "import config.urls, config.celery\n"
        "from django.apps import apps\n"
        "for app in apps.get_app_configs():\n"
        "    for mod in ('tasks', 'admin', 'services', 'selectors'):\n"
        "        try:\n"
        "            importlib.import_module(f'{app.name}.{mod}')\n"
        "        except ModuleNotFoundError as exc:\n"
        "            if exc.name != f'{app.name}.{mod}': raise\n"
        "heavy = [m for m in ('torch', 'faiss') if m in sys.modules]\n"
        "assert not heavy, f'web/worker parent imported {heavy}'\n"
    )
    result = run_python(code, DJANGO_SECRET_KEY=GOOD_SECRET)
    assert result.returncode == 0, result.stderr
