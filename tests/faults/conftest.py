"""The fault suite: real gunicorn, Celery workers, PostgreSQL and a Redis of each test's own.

Every test here is marked ``faults``. The scenarios on PostgreSQL run on the production path
only (``DATABASE_URL=postgres://...``, as CI's ``make test``) and need ``redis-server``; they
skip cleanly otherwise. A session prepares one scratch database (``<test database>_faults``:
catalogue, trained model, experiment, token), dropped at the end; each test starts its own
processes and Redis and stops them, whatever happens.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.faults import stack

FAULTS_DIR = Path(__file__).resolve().parent
VAR_ROOT = stack.REPO / "var" / "faults"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.fspath).resolve().is_relative_to(FAULTS_DIR):
            item.add_marker(pytest.mark.faults)


def _production_path() -> str | None:
    """Why the PostgreSQL scenarios cannot run here, or None."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return "fault scenarios on PostgreSQL run with DATABASE_URL=postgres://... (CI)"
    if not stack.postgres_reachable():
        return f"PostgreSQL is not answering at {stack.POSTGRES_SERVER}"
    return None


@pytest.fixture(scope="session")
def postgres_prepared() -> Iterator[stack.Prepared]:
    reason = _production_path()
    if reason:
        pytest.skip(reason)
    name = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/") + "_faults"
    var_dir = VAR_ROOT / name
    shutil.rmtree(var_dir, ignore_errors=True)
    url = stack.scratch_database(name)
    try:
        yield stack.prepare(url, var_dir)
    finally:
        stack.drop_database(url)


@pytest.fixture(scope="session")
def embedded_prepared() -> stack.Prepared:
    """The embedded default: SQLite and the filesystem broker under a var folder."""
    var_dir = VAR_ROOT / "embedded"
    shutil.rmtree(var_dir, ignore_errors=True)
    return stack.prepare("", var_dir)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[stack.RedisServer]:
    """A Redis of this test's own, on a port in 6390-6399."""
    if stack.redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    with stack.redis_server(tmp_path / "redis") as server:
        yield server
