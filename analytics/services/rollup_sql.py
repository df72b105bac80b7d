"""The rollup's SQL, for PostgreSQL and SQLite (the embedded default).

Two levels, both recomputed in the database and replaced whole, so re-running changes nothing:

1. ``analytics_userdailyrollup``: per scope (experiment phase or holdout), arm, user and UTC
   day, the user's counts and sums, split into the pre-period before the first exposure
   (``is_pre``: CUPED covariates) and the analysis period from the first exposure on, inside
   the phase window. Only exposed users appear; events before ``first_exposed_at`` count only
   as covariates.
2. ``analytics_armdailystats``: per arm and day, the change in the sufficient statistics of the
   users' *cumulative* values (sum, sum of squares, sum of products). With ``C`` a user's
   cumulative total after a day and ``P`` the total before it, ``f(C) - f(P)`` summed over the
   users active that day is the day's change in ``sum_u f(total_u)``; window functions give
   ``C`` per row, so a day costs one pass over its rows and a running sum gives every day's
   statistics without ever grouping a million users again at read time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db import connection

INTERACTION_TYPES = "('click', 'watch', 'conversion', 'first_interaction')"
SESSION_MAX_DAYS = 1

# (scope, scope_id, phase, arm_id, user_id, start_at, end_at, exposure id) of every exposure.
EXPOSURES_SQL = """
    SELECT 'experiment' AS scope, x.experiment_id AS scope_id, x.phase AS phase,
           x.variant_id AS arm_id, x.user_id AS user_id, x.first_exposed_at AS start_at,
           COALESCE(ph.ended_at, ex.stopped_at) AS end_at, x.id AS exposure_id
    FROM assignment_exposure x
    JOIN experiments_experiment ex ON ex.id = x.experiment_id
    LEFT JOIN experiments_experimentphase ph
           ON ph.experiment_id = x.experiment_id AND ph.number = x.phase
    UNION ALL
    SELECT 'holdout', h.holdout_id, 0, CASE WHEN h.in_holdout THEN 1 ELSE 0 END, h.user_id,
           h.first_seen_at, NULL, h.id
    FROM assignment_holdoutexposure h
"""

ROLLUP_COLUMNS = (
    "scope, scope_id, phase, arm_id, user_id, day, is_pre, impressions, clicks, sessions, "
    "abandoned_sessions, watch_seconds, conversions, conversion_value, first_interactions, "
    "first_interaction_seconds"
)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def day_of(column: str) -> str:
    """The UTC date of a timestamp column."""
    return f"(({column}) AT TIME ZONE 'UTC')::date" if is_postgresql() else f"date({column})"


def minus_days(column: str, days: int) -> str:
    """A timestamp column moved ``days`` back (``days`` is an int from settings)."""
    days = int(days)
    if is_postgresql():
        return f"({column} - interval '{days} days')"
    return f"datetime({column}, '-{days} days')"


def time_param(value: datetime) -> datetime | str:
    """A timestamp parameter as the backend stores it (SQLite: naive UTC text)."""
    if is_postgresql():
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def date_param(value: date) -> date | str:
    return value if is_postgresql() else value.isoformat()


def insert_user_rollups_sql(*, where_events: str, where_exposures: str, pre_days: int) -> str:
    """``INSERT ... SELECT`` of user-day rows for the events and exposures selected.

    A session is abandoned when its ``session_end`` has no interaction (click, watch,
    conversion, first interaction) with the same ``session_id`` in the day before the end
    (sessions are shorter than that). The time bound turns the check into a probe of the
    ``(user_id, ts)`` index per session end instead of a hash of every interaction ever.
    """
    day = day_of("e.ts")
    pre = "(e.ts < xp.start_at)"
    return f"""
    INSERT INTO analytics_userdailyrollup ({ROLLUP_COLUMNS})
    SELECT xp.scope, xp.scope_id, xp.phase, xp.arm_id, xp.user_id, {day}, {pre},
        SUM(CASE WHEN e.type = 'impression' THEN COALESCE(e.item_count, 0) ELSE 0 END),
        SUM(CASE WHEN e.type = 'click' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'session_start' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'session_end' AND NOT EXISTS (
                SELECT 1 FROM analytics_event i
                WHERE i.user_id = e.user_id AND i.ts <= e.ts
                  AND i.ts >= {minus_days("e.ts", SESSION_MAX_DAYS)}
                  AND i.session_id = e.session_id
                  AND i.type IN {INTERACTION_TYPES}) THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'watch' THEN e.value ELSE 0 END),
        SUM(CASE WHEN e.type = 'conversion' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'conversion' THEN COALESCE(e.value, 0) ELSE 0 END),
        SUM(CASE WHEN e.type = 'first_interaction' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'first_interaction' THEN e.value ELSE 0 END)
    FROM analytics_event e
    JOIN ({EXPOSURES_SQL}) xp ON xp.user_id = e.user_id
    WHERE ({where_events}) AND ({where_exposures})
      AND e.ts >= {minus_days("xp.start_at", pre_days)}
      AND (xp.end_at IS NULL OR e.ts < xp.end_at)
    GROUP BY xp.scope, xp.scope_id, xp.phase, xp.arm_id, xp.user_id, {day}, {pre}
    """


# Increments per (arm, day) of sums over users of functions of their cumulative totals.
# c_* is the cumulative total after the row's day, the plain column the day's own amount, so
# c_x - x is the total before it. Pre-period totals (pre.*) are CUPED covariates.
_CUMULATIVE = """
    SELECT r.arm_id, r.day, r.user_id, r.impressions AS imp, r.clicks AS clk,
        r.sessions AS ses, r.abandoned_sessions AS ab, r.watch_seconds AS w,
        r.conversions AS cv, r.first_interactions AS fi, r.first_interaction_seconds AS fis,
        SUM(r.impressions) OVER win AS c_imp, SUM(r.clicks) OVER win AS c_clk,
        SUM(r.sessions) OVER win AS c_ses, SUM(r.abandoned_sessions) OVER win AS c_ab,
        SUM(r.watch_seconds) OVER win AS c_w, SUM(r.conversions) OVER win AS c_cv,
        SUM(r.first_interactions) OVER win AS c_fi,
        SUM(r.first_interaction_seconds) OVER win AS c_fis
    FROM analytics_userdailyrollup r
    WHERE r.scope = %s AND r.scope_id = %s AND r.phase = %s AND {not_pre} {users_since}
    WINDOW win AS (PARTITION BY r.user_id ORDER BY r.day ROWS UNBOUNDED PRECEDING)
"""

_PRE_TOTALS = """
    SELECT p.user_id, SUM(p.clicks) AS clk, SUM(p.watch_seconds) AS w,
           SUM(p.conversions) AS cv
    FROM analytics_userdailyrollup p
    WHERE p.scope = %s AND p.scope_id = %s AND p.phase = %s AND {is_pre}
    GROUP BY p.user_id
"""

# name -> SQL of f(C) - f(P) for one row; P's columns are written as (c_x - x).
ACTIVITY_SUMS: dict[str, str] = {
    "imp": "c.imp",
    "imp2": "c.c_imp * c.c_imp - (c.c_imp - c.imp) * (c.c_imp - c.imp)",
    "clk": "c.clk",
    "clk2": "c.c_clk * c.c_clk - (c.c_clk - c.clk) * (c.c_clk - c.clk)",
    "clk_imp": "c.c_clk * c.c_imp - (c.c_clk - c.clk) * (c.c_imp - c.imp)",
    "clicked": "CASE WHEN c.c_clk > 0 AND c.c_clk = c.clk THEN 1 ELSE 0 END",
    "clicked_c": "CASE WHEN c.c_clk > 0 AND c.c_clk = c.clk AND pre.clk > 0 THEN 1 ELSE 0 END",
    "ses": "c.ses",
    "ses2": "c.c_ses * c.c_ses - (c.c_ses - c.ses) * (c.c_ses - c.ses)",
    "ab": "c.ab",
    "ab2": "c.c_ab * c.c_ab - (c.c_ab - c.ab) * (c.c_ab - c.ab)",
    "ab_ses": "c.c_ab * c.c_ses - (c.c_ab - c.ab) * (c.c_ses - c.ses)",
    "w": "c.w",
    "w2": "c.c_w * c.c_w - (c.c_w - c.w) * (c.c_w - c.w)",
    "w_c": "c.w * COALESCE(pre.w, 0)",
    "converted": "CASE WHEN c.c_cv > 0 AND c.c_cv = c.cv THEN 1 ELSE 0 END",
    "converted_c": "CASE WHEN c.c_cv > 0 AND c.c_cv = c.cv AND pre.cv > 0 THEN 1 ELSE 0 END",
    "tfi_n": "CASE WHEN c.c_fi > 0 AND c.c_fi = c.fi THEN 1 ELSE 0 END",
    "tfi": (
        "CASE WHEN c.c_fi > 0 THEN c.c_fis / c.c_fi ELSE 0 END"
        " - CASE WHEN c.c_fi - c.fi > 0 THEN (c.c_fis - c.fis) / (c.c_fi - c.fi) ELSE 0 END"
    ),
    "tfi2": (
        "CASE WHEN c.c_fi > 0 THEN (c.c_fis / c.c_fi) * (c.c_fis / c.c_fi) ELSE 0 END"
        " - CASE WHEN c.c_fi - c.fi > 0 THEN ((c.c_fis - c.fis) / (c.c_fi - c.fi))"
        " * ((c.c_fis - c.fis) / (c.c_fi - c.fi)) ELSE 0 END"
    ),
}

# name -> SQL over an exposure row joined with its pre-period totals (counted on exposure day).
EXPOSURE_SUMS: dict[str, str] = {
    "n": "1",
    "pre_clicked": "CASE WHEN pre.clk > 0 THEN 1 ELSE 0 END",
    "pre_w": "COALESCE(pre.w, 0)",
    "pre_w2": "COALESCE(pre.w, 0) * COALESCE(pre.w, 0)",
    "pre_converted": "CASE WHEN pre.cv > 0 THEN 1 ELSE 0 END",
}


def _flag(column: str, value: bool) -> str:
    if is_postgresql():
        return column if value else f"NOT {column}"
    return f"{column} = {1 if value else 0}"


def activity_sums_sql(since: date | None = None) -> str:
    """Per (arm, day) increments of the activity statistics, for days >= ``since`` (None:
    all); params: the scope triple, (the triple again when ``since``), the triple for the
    pre-period totals.

    A day's increments depend only on the rows of the users active that day, up to it, so
    an incremental run recomputes the days from ``since`` on over those users' histories.
    """
    columns = ",\n        ".join(f"SUM({expr}) AS {name}" for name, expr in ACTIVITY_SUMS.items())
    users_since = ""
    day_filter = ""
    if since is not None:
        users_since = (
            "AND r.user_id IN (SELECT s.user_id FROM analytics_userdailyrollup s "
            "WHERE s.scope = %s AND s.scope_id = %s AND s.phase = %s "
            f"AND s.day >= '{since.isoformat()}')"
        )
        day_filter = f"WHERE c.day >= '{since.isoformat()}'"
    cumulative = _CUMULATIVE.format(not_pre=_flag("r.is_pre", False), users_since=users_since)
    pre = _PRE_TOTALS.format(is_pre=_flag("p.is_pre", True))
    return f"""
    SELECT c.arm_id, c.day,
        {columns}
    FROM ({cumulative}) c
    LEFT JOIN ({pre}) pre ON pre.user_id = c.user_id
    {day_filter}
    GROUP BY c.arm_id, c.day
    """


def exposure_sums_sql(scope: str, since: date | None = None) -> str:
    """Per (arm, exposure day) exposed users and covariate sums; params: scope triple twice
    (the pre-period totals', then the exposures' selection)."""
    columns = ",\n        ".join(f"SUM({expr}) AS {name}" for name, expr in EXPOSURE_SUMS.items())
    pre = _PRE_TOTALS.format(is_pre=_flag("p.is_pre", True))
    if scope == "experiment":
        source = (
            "SELECT variant_id AS arm_id, user_id, first_exposed_at AS start_at "
            "FROM assignment_exposure WHERE %s = 'experiment' AND experiment_id = %s "
            "AND phase = %s"
        )
    else:
        source = (
            "SELECT CASE WHEN in_holdout THEN 1 ELSE 0 END AS arm_id, user_id, "
            "first_seen_at AS start_at FROM assignment_holdoutexposure "
            "WHERE %s = 'holdout' AND holdout_id = %s AND 0 = %s"
        )
    day_filter = ""
    if since is not None:
        day_filter = f"WHERE {day_of('x.start_at')} >= '{since.isoformat()}'"
    return f"""
    SELECT x.arm_id, {day_of("x.start_at")} AS day,
        {columns}
    FROM ({source}) x
    LEFT JOIN ({pre}) pre ON pre.user_id = x.user_id
    {day_filter}
    GROUP BY x.arm_id, {day_of("x.start_at")}
    """


def insert_model_version_stats_sql(where_events: str) -> str:
    """``INSERT ... SELECT`` of attributed impressions and clicks per served list's model."""
    day = day_of("e.ts")
    return f"""
    INSERT INTO analytics_modelversiondailystats
        (experiment_key, variant_key, model_version, day, impressions, clicks)
    SELECT s.experiment_key, s.variant_key, s.model_version, {day},
        SUM(CASE WHEN e.type = 'impression' THEN COALESCE(e.item_count, 0) ELSE 0 END),
        SUM(CASE WHEN e.type = 'click' THEN 1 ELSE 0 END)
    FROM analytics_event e
    JOIN analytics_servedlist s ON s.request_id = e.request_id
    WHERE e.type IN ('impression', 'click') AND e.request_id <> '' AND ({where_events})
    GROUP BY s.experiment_key, s.variant_key, s.model_version, {day}
    """
