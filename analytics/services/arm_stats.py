"""Step 3 of a rollup run: each scope's per-arm daily sufficient statistics (the rows reports
read, ``ArmDailyStats``), rebuilt from the user rollup and the exposures."""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection

from analytics.models import ArmDailyStats
from analytics.services import rollup_sql as q
from analytics.services.rollup_tuning import planner_setting


def as_date(value: object) -> date:
    """A day from what the database answers (a date, a datetime, or ISO text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def rollup_scopes() -> list[tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT scope, scope_id, phase FROM analytics_userdailyrollup")
        from_rows = {(s, int(i), int(p)) for s, i, p in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT experiment_id, phase FROM assignment_exposure")
        exposed = {("experiment", int(i), int(p)) for i, p in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT holdout_id FROM assignment_holdoutexposure")
        held = {("holdout", int(i), 0) for (i,) in cursor.fetchall()}
    return sorted(from_rows | exposed | held)


def _number(value: object) -> float:
    return 0.0 if value is None else float(value)


# (scope, scope_id, phase, arm, day) -> statistic name -> increment.
ArmSums = dict[tuple[str, int, int, int, date], dict[str, float]]


def _add_sums(cursor, merged: ArmSums, scope_key: tuple[str, int, int] | None = None) -> None:
    """Add the rows of the query just run to ``merged``; they start with (scope, scope_id,
    phase, arm, day), or with (arm, day) when ``scope_key`` gives the rest."""
    names = [col[0] for col in cursor.description]
    lead = 5 if scope_key is None else 2
    for row in cursor.fetchall():
        scope, scope_id, phase, arm, day = (*(scope_key or ()), *row[:lead])
        key = (str(scope), int(scope_id), int(phase), int(arm), as_date(day))
        sums = merged.setdefault(key, {})
        for name, value in zip(names[lead:], row[lead:], strict=True):
            sums[name] = sums.get(name, 0.0) + _number(value)


def _replace_arm_stats(
    merged: ArmSums, scopes: list[tuple[str, int, int]], since: date | None
) -> None:
    for scope, scope_id, phase in scopes:
        stale = ArmDailyStats.objects.filter(scope=scope, scope_id=scope_id, phase=phase)
        if since is not None:
            stale = stale.filter(day__gte=since)
        stale.delete()
    ArmDailyStats.objects.bulk_create(
        [
            ArmDailyStats(
                scope=scope, scope_id=scope_id, phase=phase, arm_id=arm, day=day, sums=sums
            )
            for (scope, scope_id, phase, arm, day), sums in sorted(merged.items())
        ],
        batch_size=1000,
    )


def rebuild_arm_stats(scope: str, scope_id: int, phase: int, since: date | None = None) -> int:
    """Step 3 for one scope: replace its per-arm daily statistics from ``since`` on (None:
    all days)."""
    triple = [scope, scope_id, phase]
    merged: ArmSums = {}
    with connection.cursor() as cursor:
        cursor.execute(q.activity_sums_sql(since), triple + (triple if since else []))
        _add_sums(cursor, merged)
        cursor.execute(q.exposure_sums_sql(scope, since), triple + triple)
        _add_sums(cursor, merged, (scope, scope_id, phase))
    _replace_arm_stats(merged, [(scope, scope_id, phase)], since)
    return len(merged)


def rebuild_every_arm_stats(scopes: list[tuple[str, int, int]]) -> int:
    """Step 3 of a full run: every scope's per-arm daily statistics, all days, with one
    window pass over the whole user rollup (one sort instead of one per scope).

    PostgreSQL reads the table in order and sorts it rather than walking it through the user
    index: the index yields the window's order, but a full walk of it is a random read of
    every heap page, several times slower.
    """
    merged: ArmSums = {}
    with connection.cursor() as cursor, planner_setting("enable_indexscan", "off"):
        cursor.execute(q.activity_sums_sql(every_scope=True))
        _add_sums(cursor, merged)
        for scope, scope_id, phase in scopes:
            triple = [scope, scope_id, phase]
            cursor.execute(q.exposure_sums_sql(scope), triple + triple)
            _add_sums(cursor, merged, (scope, scope_id, phase))
    _replace_arm_stats(merged, scopes, None)
    return len(merged)
