"""Helpers of the events benchmarks: scratch PostgreSQL databases and a gunicorn server.

A scratch database is cloned from a migrated template (``splitlab_bench_events_template``)
that is rebuilt whenever the migration files on disk differ from the ones it recorded (a hash
kept as the database's comment), so a run costs a ``CREATE DATABASE ... TEMPLATE`` instead of
a full ``migrate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").is_dir() else sys.executable
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# One migrated template for every events benchmark database (cloned, never used directly).
TEMPLATE_DATABASE = "splitlab_bench_events_template"


def database_url(server_url: str, name: str) -> str:
    parsed = urlparse(server_url)
    return urlunparse(parsed._replace(path=f"/{name}"))


def _admin(server_url: str):
    import psycopg

    return psycopg.connect(database_url(server_url, "postgres"), autocommit=True)


def migrations_fingerprint() -> str:
    """A hash of every migration file's path and content (a changed file rebuilds the template)."""
    digest = hashlib.sha256()
    for path in sorted(REPO.glob("*/migrations/0*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _template_is_current(server_url: str, template: str, fingerprint: str) -> bool:
    with _admin(server_url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [template],
        ).fetchone()
    return bool(row) and row[0] == fingerprint


def production_env() -> dict[str, str]:
    """This process's environment with production Django settings (no TLS redirect)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SECRET_KEY="benchmark-secret-key-not-for-production-only-for-benchmarks",
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def django_env(url: str) -> dict[str, str]:
    """Environment of a production-like Django process on ``url``."""
    return {**production_env(), "DATABASE_URL": url}


def create_scratch_database(server_url: str, name: str) -> str:
    """A fresh, migrated database ``name`` (dropped first if present); returns its URL."""
    template = TEMPLATE_DATABASE
    fingerprint = migrations_fingerprint()
    if not _template_is_current(server_url, template, fingerprint):
        with _admin(server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}"')
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env=django_env(database_url(server_url, template)),
            check=True,
        )
        with _admin(server_url) as conn:
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{fingerprint}'")
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url(server_url, name)


def database_comment(server_url: str, name: str) -> str | None:
    """The comment of database ``name`` (None: no such database, or no comment)."""
    with _admin(server_url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    return row[0] if row else None


def set_database_comment(server_url: str, name: str, comment: str) -> None:
    from psycopg import sql

    statement = sql.SQL("COMMENT ON DATABASE {} IS {}")
    with _admin(server_url) as conn:
        conn.execute(statement.format(sql.Identifier(name), sql.Literal(comment)))


def drop_database(server_url: str, name: str) -> None:
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_healthz(
    process: subprocess.Popen, base: str, timeout_seconds: float, poll_seconds: float = 0.2
) -> None:
    """Return once ``GET {base}/healthz`` answers 200; raise if the server exits or is late."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not answer /healthz in time")
        time.sleep(poll_seconds)


def stop_process(process: subprocess.Popen, timeout_seconds: float = 20) -> None:
    """Terminate ``process`` and wait for it; kill it if it outlives ``timeout_seconds``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def gunicorn(url: str, *, workers: int = 2, timeout_seconds: float = 60) -> Iterator[str]:
    """Run ``gunicorn config.wsgi`` (sync workers) on a free 127.0.0.1 port; yield its base URL.

    The server is terminated when the block ends, whatever happens inside it.
    """
    port = free_port()
    command = [
        str(Path(PYTHON).with_name("gunicorn")),
        "config.wsgi:application",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "300",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=django_env(url))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_healthz(process, base, timeout_seconds)
        yield base
    finally:
        stop_process(process, timeout_seconds=15)


def setup_django(url: str) -> None:
    """Configure Django in this process against ``url`` (for tokens and direct reads)."""
    sys.path.insert(0, str(REPO))
    os.environ.update(django_env(url))
    import django

    django.setup()
