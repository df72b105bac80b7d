"""Running the rollups: incremental by time window, idempotent when re-run.

Each run, in one transaction holding the rollup state row's lock:

1. users first exposed since the run before the last (exposure ids above the settled
   watermark, which covers exposures still committing at the last run): their user-day rows
   are rebuilt from all their events (their pre-period events arrived before them, and events
   may precede a buffered exposure write). An exposure whose time moved earlier (a process
   that saw the user first committed last: ``writebehind.bulk.upsert_earliest``) takes a new
   id, so it counts as new here and its user is rebuilt from the earlier time;
2. UTC days touched by events received since the last run (minus an overlap that covers
   transactions still committing at the last run): those days' user rows are rebuilt for
   every exposed user;
3. every scope with rows: its per-arm daily sufficient statistics are rebuilt from the user
   rows (a few rows per arm and day; reports read only these); a full run computes every
   scope in one window pass over the user rows.

Every step deletes what it rebuilds, so running twice, or over an overlapping window, gives
the same tables. ``full=True`` rebuilds everything.

A stored event whose value lies outside its documented range (``rollup_sql.bad_event_sql``:
stored before ingestion bounded it, or written around the API) is left out of every sum and
reported (count and first event ids, in the summary and the log): one such row used to
overflow a sum of squares and stop every later run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import RollupState, UserDailyRollup
from analytics.services import rollup_sql as q
from analytics.services.arm_stats import (
    as_date,
    rebuild_arm_stats,
    rebuild_every_arm_stats,
    rollup_scopes,
)
from analytics.services.rollup_tuning import (
    analyze_user_rollup,
    hash_aggregates,
    indexes_rebuilt_after,
    tune_session,
)

logger = logging.getLogger(__name__)


@dataclass
class RollupSummary:
    """What a run did (stored on the state row and returned to callers)."""

    full: bool
    new_exposures: int = 0
    days: list[str] = field(default_factory=list)
    user_rows: int = 0
    scopes: int = 0
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    skipped_events: int = 0
    skipped_event_ids: list[str] = field(default_factory=list)

    def lap(self, step: str, started: float) -> float:
        """Record the seconds since ``started`` for ``step``; return the clock now."""
        now = time.monotonic()
        self.step_seconds[step] = round(now - started, 3)
        return now


def _day_ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days merged into inclusive ranges."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _touched_days(since: datetime) -> list[date]:
    sql = f"SELECT DISTINCT {q.day_of('ts')} FROM analytics_event WHERE received_at > %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [q.time_param(since)])
        return [as_date(row[0]) for row in cursor.fetchall()]


# How many skipped event ids a run's summary lists (the count covers them all).
SKIPPED_IDS_REPORTED = 20


def _skipped_events(since: datetime | None) -> tuple[int, list[str]]:
    """Events with a value outside their range received after ``since`` (None: all), which
    the rollup leaves out: their count and the first ``SKIPPED_IDS_REPORTED`` event ids."""
    where = q.bad_event_sql("e")
    params: list = []
    if since is not None:
        where += " AND e.received_at > %s"
        params.append(q.time_param(since))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM analytics_event e WHERE {where}", params)
        count = int(cursor.fetchone()[0])
        if not count:
            return 0, []
        cursor.execute(
            f"SELECT e.event_id FROM analytics_event e WHERE {where} "
            "ORDER BY e.received_at, e.event_id LIMIT %s",
            [*params, SKIPPED_IDS_REPORTED],
        )
        return count, [str(row[0]) for row in cursor.fetchall()]


def _max_ids() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM assignment_exposure")
        exposures = int(cursor.fetchone()[0])
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM assignment_holdoutexposure")
        holdout = int(cursor.fetchone()[0])
    return exposures, holdout


def _this_user_key() -> str:
    """A user rollup row's (scope, phase, user) key, matched by the bytewise user index."""
    return f"(scope, scope_id, phase, {q.bytewise('user_id')})"


def _rebuild_new_users(
    state: RollupState, max_exposure: int, max_holdout: int
) -> tuple[int, date | None]:
    """Step 1: rebuild all rows of users exposed since the settled watermarks (so the last
    run's new users again: see :func:`_settle`).

    Returns their count and the first day their rows or exposures touch (None: no users).
    """
    new = (
        "((xp.scope = 'experiment' AND xp.exposure_id > %s AND xp.exposure_id <= %s) OR "
        "(xp.scope = 'holdout' AND xp.exposure_id > %s AND xp.exposure_id <= %s))"
    )
    bounds = [
        state.exposures_settled_id,
        max_exposure,
        state.holdout_exposures_settled_id,
        max_holdout,
    ]
    exposures = f"SELECT scope, scope_id, phase, user_id FROM ({q.EXPOSURES_SQL}) xp WHERE {new}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({exposures}) n", bounds)
        count = int(cursor.fetchone()[0])
        if not count:
            return 0, None
        cursor.execute(
            f"DELETE FROM analytics_userdailyrollup WHERE {_this_user_key()} IN ({exposures})",
            bounds,
        )
        with hash_aggregates():
            cursor.execute(
                q.insert_user_rollups_sql(
                    where_events="1 = 1",
                    where_exposures=new,
                    pre_days=settings.SPLITLAB_ROLLUP_PRE_PERIOD_DAYS,
                ),
                bounds,
            )
        cursor.execute(
            f"SELECT MIN({q.day_of('xp.start_at')}) FROM ({q.EXPOSURES_SQL}) xp WHERE {new}",
            bounds,
        )
        first_exposure = cursor.fetchone()[0]
        cursor.execute(
            "SELECT MIN(day) FROM analytics_userdailyrollup "
            f"WHERE {_this_user_key()} IN ({exposures})",
            bounds,
        )
        first_row = cursor.fetchone()[0]
    days = [as_date(d) for d in (first_exposure, first_row) if d is not None]
    return count, min(days) if days else None


def _rebuild_days(ranges: list[tuple[date, date]] | None) -> int:
    """Step 2: rebuild the user rows of whole UTC days (``None``: everything), and the
    impressions and clicks attributed to model versions on those days."""
    pre_days = settings.SPLITLAB_ROLLUP_PRE_PERIOD_DAYS
    inserted = 0
    with connection.cursor() as cursor, hash_aggregates():
        if ranges is None:
            with indexes_rebuilt_after():
                cursor.execute(
                    q.insert_user_rollups_sql(
                        where_events="1 = 1",
                        where_exposures="1 = 1",
                        pre_days=pre_days,
                        all_events=True,
                    )
                )
                inserted = cursor.rowcount
            cursor.execute("DELETE FROM analytics_modelversiondailystats")
            cursor.execute(q.insert_model_version_stats_sql("1 = 1"))
            return inserted
        for first, last in ranges:
            start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
            end = start + timedelta(days=(last - first).days + 1)
            cursor.execute(
                "DELETE FROM analytics_userdailyrollup WHERE day >= %s AND day <= %s",
                [q.date_param(first), q.date_param(last)],
            )
            cursor.execute(
                q.insert_user_rollups_sql(
                    where_events="e.ts >= %s AND e.ts < %s",
                    where_exposures="1 = 1",
                    pre_days=pre_days,
                ),
                [q.time_param(start), q.time_param(end)],
            )
            inserted += max(cursor.rowcount, 0)
            cursor.execute(
                "DELETE FROM analytics_modelversiondailystats WHERE day >= %s AND day <= %s",
                [q.date_param(first), q.date_param(last)],
            )
            cursor.execute(
                q.insert_model_version_stats_sql("e.ts >= %s AND e.ts < %s"),
                [q.time_param(start), q.time_param(end)],
            )
    return inserted


def _rollup_lost() -> bool:
    """True when the user rollup is empty although exposures exist (an unlogged table
    emptied by a PostgreSQL crash recovery): the next run must rebuild everything."""
    if UserDailyRollup.objects.exists():
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM assignment_exposure) "
            "OR EXISTS (SELECT 1 FROM assignment_holdoutexposure)"
        )
        return bool(cursor.fetchone()[0])


def _settle(state: RollupState, now: datetime, max_exposure: int, max_holdout: int) -> None:
    """Advance the exposure watermarks after a run at ``now`` that read up to the max ids.

    An exposure's id is taken when its row is inserted, and its transaction may commit after
    a run has read a larger id; like the events' overlap, exposures are assumed to commit
    within ``SPLITLAB_ROLLUP_OVERLAP_SECONDS``. So once the last run is that old, every
    exposure up to the ids it read is visible, and the next run re-reads only from them (its
    own new users and the last run's, rebuilt idempotently). The first run has no history:
    it settles at what it read.
    """
    overlap = timedelta(seconds=settings.SPLITLAB_ROLLUP_OVERLAP_SECONDS)
    if state.last_run_at is None:
        state.exposures_settled_id = max_exposure
        state.holdout_exposures_settled_id = max_holdout
    elif state.last_run_at <= now - overlap:
        state.exposures_settled_id = state.exposures_until_id
        state.holdout_exposures_settled_id = state.holdout_exposures_until_id
    state.exposures_until_id = max_exposure
    state.holdout_exposures_until_id = max_holdout


def do_run_rollups(*, full: bool = False, now: datetime | None = None) -> RollupSummary:
    """Run the rollups (see the module docstring); safe to call concurrently and repeatedly.

    Takes the lock of the rollup state row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
    serialises writers), so concurrent runs queue instead of interleaving.
    """
    started = time.monotonic()
    now = now or timezone.now()
    with transaction.atomic():
        tune_session()
        RollupState.objects.get_or_create(name="default")
        state = RollupState.objects.select_for_update().get(name="default")
        full = full or state.events_received_until is None or _rollup_lost()
        summary = RollupSummary(full=full)
        max_exposure, max_holdout = _max_ids()
        first_changed: date | None = None
        clock = time.monotonic()
        if full:
            summary.user_rows = _rebuild_days(None)
            clock = summary.lap("user_rows", clock)
        else:
            summary.new_exposures, first_new = _rebuild_new_users(state, max_exposure, max_holdout)
            clock = summary.lap("new_users", clock)
            received_since = state.events_received_until - timedelta(
                seconds=settings.SPLITLAB_ROLLUP_OVERLAP_SECONDS
            )
            ranges = _day_ranges(_touched_days(received_since))
            summary.days = [f"{a.isoformat()}..{b.isoformat()}" for a, b in ranges]
            clock = summary.lap("touched_days", clock)
            summary.user_rows = _rebuild_days(ranges)
            clock = summary.lap("user_rows", clock)
            changed = [d for d in (first_new, ranges[0][0] if ranges else None) if d]
            first_changed = min(changed) if changed else None
        analyze_user_rollup()
        clock = summary.lap("analyze", clock)
        if full or first_changed is not None:
            scopes = rollup_scopes()
            if full:
                rebuild_every_arm_stats(scopes)
            else:
                for scope, scope_id, phase in scopes:
                    rebuild_arm_stats(scope, scope_id, phase, first_changed)
            summary.scopes = len(scopes)
            summary.lap("arm_stats", clock)
        skipped_since = (
            None
            if full
            else state.events_received_until
            - timedelta(seconds=settings.SPLITLAB_ROLLUP_OVERLAP_SECONDS)
        )
        summary.skipped_events, summary.skipped_event_ids = _skipped_events(skipped_since)
        if summary.skipped_events:
            logger.warning(
                "rollup skipped %d event(s) with a value outside its range, e.g. %s",
                summary.skipped_events,
                ", ".join(summary.skipped_event_ids),
            )
        summary.seconds = round(time.monotonic() - started, 3)
        state.events_received_until = now
        _settle(state, now, max_exposure, max_holdout)
        state.last_run_at = now
        state.runs += 1
        state.last_duration_seconds = summary.seconds
        state.last_summary = asdict(summary)
        state.save()
    logger.info("rollup done: %s", summary)
    return summary


def rollup_row_count() -> int:
    """Rows in the user rollup (for the command's report)."""
    return UserDailyRollup.objects.count()
