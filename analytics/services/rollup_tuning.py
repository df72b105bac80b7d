"""PostgreSQL settings around the rollups' statements: session memory, planner hints, fresh
statistics, and the user rollup's indexes built after a full rebuild instead of row by row.
On SQLite each is a no-op (or the plain ``DELETE`` of a full rebuild)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from django.conf import settings
from django.db import connection

from analytics.services import rollup_sql as q


def analyze_user_rollup() -> None:
    """PostgreSQL: fresh planner statistics for the rows just written (this transaction's).

    Without them the planner takes the rebuilt table for nearly empty and joins the
    per-user pre-period totals by nested loop, which is quadratic in users.
    """
    if q.is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE analytics_userdailyrollup")


# Secondary indexes of the user rollup on PostgreSQL, as (name, columns): dropped around a
# full rebuild (they are made by migration 0005, which says why the collation).
USER_ROLLUP_INDEXES = (
    ("analytics_udr_user", 'user_id COLLATE "C", scope, scope_id, phase'),
    ("analytics_udr_day", "day"),
)


@contextmanager
def indexes_rebuilt_after() -> Iterator[None]:
    """Empty the user rollup for a full rebuild; on PostgreSQL, build its indexes after the
    insert instead of maintaining them row by row (millions of rows, random user keys)."""
    with connection.cursor() as cursor:
        if not q.is_postgresql():
            cursor.execute("DELETE FROM analytics_userdailyrollup")
            yield
            return
        cursor.execute("TRUNCATE analytics_userdailyrollup")
        for name, _ in USER_ROLLUP_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        yield
        for name, columns in USER_ROLLUP_INDEXES:
            cursor.execute(f"CREATE INDEX {name} ON analytics_userdailyrollup ({columns})")


@contextmanager
def planner_setting(name: str, value: str) -> Iterator[None]:
    """PostgreSQL: a planner setting for the statements of the block (this transaction)."""
    if not q.is_postgresql():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        before = cursor.fetchone()[0]
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        try:
            yield
        finally:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, before])


def hash_aggregates() -> AbstractContextManager[None]:
    """PostgreSQL: prefer hashing to sorting for the user-day ``GROUP BY`` (this statement).

    The planner underestimates the groups of the events-exposures join and sorts a million
    wide rows by text keys; hashing them is several times faster and spills to disk past
    ``work_mem`` instead of failing.
    """
    return planner_setting("enable_sort", "off")


def tune_session() -> None:
    """PostgreSQL: room for the rollup's hash aggregates and sorts (this transaction only)."""
    if not q.is_postgresql():
        return
    work_mem = str(settings.SPLITLAB_ROLLUP_WORK_MEM)
    if not re.fullmatch(r"\d+(kB|MB|GB)", work_mem):
        raise ValueError(f"SPLITLAB_ROLLUP_WORK_MEM: {work_mem!r} is not a size like 256MB")
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{work_mem}'")
        # The full rebuild's index builds sort millions of rows: in memory, not in 64MB runs.
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{work_mem}'")
        # JIT compilation costs seconds per statement here and saves less on these plans.
        cursor.execute("SET LOCAL jit = off")
