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

from analytics.services.event_validation import VALUE_RANGES
from writebehind.bulk import is_postgresql

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


def bytewise(column: str) -> str:
    """A text column compared byte by byte: PostgreSQL sorts it with abbreviated keys (the
    default collation compares whole strings through the C library); SQLite's default
    ``BINARY`` collation already is bytewise. Equality is the same under both."""
    return f'{column} COLLATE "C"' if is_postgresql() else column


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


def bad_event_sql(alias: str = "e") -> str:
    """True for a stored event whose ``value`` lies outside its type's accepted range
    (``VALUE_RANGES``), or is NaN or infinite (PostgreSQL orders NaN above every number).

    Ingestion refuses such values; rows stored before the bounds existed, or written around
    the API, are skipped by the rollups and reported instead of stopping every run.
    """
    checks = " OR ".join(
        f"({alias}.type = '{kind}' AND ({alias}.value < {low!r} OR {alias}.value > {high!r}))"
        for kind, (low, high) in sorted(VALUE_RANGES.items())
    )
    return f"({alias}.value IS NOT NULL AND ({checks}))"


def _abandoned_sql(session_end: str) -> str:
    """True when no interaction of the same user and ``session_id`` lies in the day up to
    the session end ``session_end`` (an alias of ``analytics_event``)."""
    e = session_end
    return f"""NOT EXISTS (
                SELECT 1 FROM analytics_event i
                WHERE i.user_id = {e}.user_id AND i.ts <= {e}.ts
                  AND i.ts >= {minus_days(f"{e}.ts", SESSION_MAX_DAYS)}
                  AND i.session_id = {e}.session_id
                  AND i.type IN {INTERACTION_TYPES})"""


def insert_user_rollups_sql(
    *, where_events: str, where_exposures: str, pre_days: int, all_events: bool = False
) -> str:
    """``INSERT ... SELECT`` of user-day rows for the events and exposures selected.

    A session is abandoned when its ``session_end`` has no interaction (click, watch,
    conversion, first interaction) with the same ``session_id`` in the day before the end
    (sessions are shorter than that). For a few users or days the check is a probe of the
    ``(user_id, ts)`` index per session end; with ``all_events`` (a full rebuild, which reads
    every event anyway: ``where_events`` must select them all) it is one hash anti-join of
    the session ends with the interactions, which adds an ``abandoned`` row per abandoned
    session end (a million index probes cost several times more).
    """
    day = day_of("e.ts")
    pre = "(e.ts < xp.start_at)"
    if all_events:
        events = f"""(
        SELECT a.user_id, a.ts, a.type, a.item_count, a.value FROM analytics_event a
        WHERE NOT {bad_event_sql("a")}
        UNION ALL
        SELECT a.user_id, a.ts, 'abandoned', NULL, NULL FROM analytics_event a
        WHERE a.type = 'session_end' AND {_abandoned_sql("a")}
    ) e"""
        abandoned = "e.type = 'abandoned'"
    else:
        events = "analytics_event e"
        abandoned = f"e.type = 'session_end' AND {_abandoned_sql('e')}"
        where_events = f"({where_events}) AND NOT {bad_event_sql('e')}"
    return f"""
    INSERT INTO analytics_userdailyrollup ({ROLLUP_COLUMNS})
    SELECT xp.scope, xp.scope_id, xp.phase, xp.arm_id, xp.user_id, {day}, {pre},
        SUM(CASE WHEN e.type = 'impression' THEN COALESCE(e.item_count, 0) ELSE 0 END),
        SUM(CASE WHEN e.type = 'click' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'session_start' THEN 1 ELSE 0 END),
        SUM(CASE WHEN {abandoned} THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'watch' THEN e.value ELSE 0 END),
        SUM(CASE WHEN e.type = 'conversion' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'conversion' THEN COALESCE(e.value, 0) ELSE 0 END),
        SUM(CASE WHEN e.type = 'first_interaction' THEN 1 ELSE 0 END),
        SUM(CASE WHEN e.type = 'first_interaction' THEN e.value ELSE 0 END)
    FROM {events}
    JOIN ({EXPOSURES_SQL}) xp ON xp.user_id = e.user_id
    WHERE ({where_events}) AND ({where_exposures})
      AND e.ts >= {minus_days("xp.start_at", pre_days)}
      AND (xp.end_at IS NULL OR e.ts < xp.end_at)
    GROUP BY xp.scope, xp.scope_id, xp.phase, xp.arm_id, xp.user_id, {day}, {pre}
    """


# Increments per (arm, day) of sums over users of functions of their cumulative totals.
# c_* is the cumulative total after the row's day, the plain column the day's own amount, so
# c_x - x is the total before it; pre_* are the user's pre-period totals (CUPED covariates).
# One window pass over each user's rows gives both: the pre-period rows sort first, so at
# every analysis row the running pre-period sums are the user's totals.
_CUMULATIVE = """
    SELECT r.scope, r.scope_id, r.phase, r.arm_id, r.day, r.is_pre, r.impressions AS imp,
        r.clicks AS clk, r.sessions AS ses, r.abandoned_sessions AS ab, r.watch_seconds AS w,
        r.conversions AS cv, r.first_interactions AS fi, r.first_interaction_seconds AS fis,
        {running}
    FROM analytics_userdailyrollup r
    WHERE {rows}
    WINDOW win AS (PARTITION BY {user}, r.scope, r.scope_id, r.phase
                   ORDER BY r.is_pre DESC, r.day ROWS UNBOUNDED PRECEDING)
"""

# alias -> (column, period, integer): the running sums of _CUMULATIVE.
_RUNNING: dict[str, tuple[str, bool, bool]] = {
    "c_imp": ("impressions", False, True),
    "c_clk": ("clicks", False, True),
    "c_ses": ("sessions", False, True),
    "c_ab": ("abandoned_sessions", False, True),
    "c_w": ("watch_seconds", False, False),
    "c_cv": ("conversions", False, True),
    "c_fi": ("first_interactions", False, True),
    "c_fis": ("first_interaction_seconds", False, False),
    "pre_clk": ("clicks", True, True),
    "pre_imp": ("impressions", True, True),
    "pre_w": ("watch_seconds", True, False),
    "pre_cv": ("conversions", True, True),
}


def _running_sum(column: str, pre: bool, integer: bool) -> str:
    """The running sum over ``win`` of a column's pre-period (``pre``) or analysis values.

    PostgreSQL sums bigints into numeric, and numeric arithmetic on millions of rows costs
    seconds; integer columns are summed as float8 instead (exact below 2**53, far above any
    user's count) and cast back, so the products below are exact bigint arithmetic.
    """
    in_period, other = (f"r.{column}", "0") if pre else ("0", f"r.{column}")
    value = f"CASE WHEN r.is_pre THEN {in_period} ELSE {other} END"
    if not (integer and is_postgresql()):
        return f"SUM({value}) OVER win"
    return f"CAST(SUM(CAST({value} AS double precision)) OVER win AS bigint)"


# name -> SQL of f(C) - f(P) for one row; P's columns are written as (c_x - x).
ACTIVITY_SUMS: dict[str, str] = {
    "imp": "c.imp",
    "imp2": "c.c_imp * c.c_imp - (c.c_imp - c.imp) * (c.c_imp - c.imp)",
    "clk": "c.clk",
    "clk2": "c.c_clk * c.c_clk - (c.c_clk - c.clk) * (c.c_clk - c.clk)",
    "clk_imp": "c.c_clk * c.c_imp - (c.c_clk - c.clk) * (c.c_imp - c.imp)",
    # CTR's regression adjustment: products with the pre-period clicks and impressions (the
    # user's constants, so f(C) - f(P) is the day's amount times them).
    "clk_pclk": "c.clk * c.pre_clk",
    "clk_pimp": "c.clk * c.pre_imp",
    "imp_pclk": "c.imp * c.pre_clk",
    "imp_pimp": "c.imp * c.pre_imp",
    "clicked": "CASE WHEN c.c_clk > 0 AND c.c_clk = c.clk THEN 1 ELSE 0 END",
    "clicked_c": "CASE WHEN c.c_clk > 0 AND c.c_clk = c.clk AND c.pre_clk > 0 THEN 1 ELSE 0 END",
    "ses": "c.ses",
    "ses2": "c.c_ses * c.c_ses - (c.c_ses - c.ses) * (c.c_ses - c.ses)",
    "ab": "c.ab",
    "ab2": "c.c_ab * c.c_ab - (c.c_ab - c.ab) * (c.c_ab - c.ab)",
    "ab_ses": "c.c_ab * c.c_ses - (c.c_ab - c.ab) * (c.c_ses - c.ses)",
    "w": "c.w",
    "w2": "c.c_w * c.c_w - (c.c_w - c.w) * (c.c_w - c.w)",
    "w_c": "c.w * c.pre_w",
    "converted": "CASE WHEN c.c_cv > 0 AND c.c_cv = c.cv THEN 1 ELSE 0 END",
    "converted_c": "CASE WHEN c.c_cv > 0 AND c.c_cv = c.cv AND c.pre_cv > 0 THEN 1 ELSE 0 END",
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

_PRE_TOTALS = """
    SELECT p.user_id, SUM(p.clicks) AS clk, SUM(p.watch_seconds) AS w,
           SUM(p.conversions) AS cv, SUM(p.impressions) AS imp
    FROM analytics_userdailyrollup p
    WHERE p.scope = %s AND p.scope_id = %s AND p.phase = %s AND {is_pre}
    GROUP BY p.user_id
"""

# name -> SQL over an exposure row joined with its pre-period totals (counted on exposure day).
EXPOSURE_SUMS: dict[str, str] = {
    "n": "1",
    "pre_clicked": "CASE WHEN pre.clk > 0 THEN 1 ELSE 0 END",
    "pre_w": "COALESCE(pre.w, 0)",
    "pre_w2": "COALESCE(pre.w, 0) * COALESCE(pre.w, 0)",
    "pre_converted": "CASE WHEN pre.cv > 0 THEN 1 ELSE 0 END",
    "pclk": "COALESCE(pre.clk, 0)",
    "pclk2": "COALESCE(pre.clk, 0) * COALESCE(pre.clk, 0)",
    "pimp": "COALESCE(pre.imp, 0)",
    "pimp2": "COALESCE(pre.imp, 0) * COALESCE(pre.imp, 0)",
    "pclk_pimp": "COALESCE(pre.clk, 0) * COALESCE(pre.imp, 0)",
}


def _flag(column: str, value: bool) -> str:
    if is_postgresql():
        return column if value else f"NOT {column}"
    return f"{column} = {1 if value else 0}"


def activity_sums_sql(since: date | None = None, *, every_scope: bool = False) -> str:
    """Per (scope, scope_id, phase, arm, day) increments of the activity statistics, for days
    >= ``since`` (None: all); params: the scope triple (none for ``every_scope``), then the
    triple again when ``since``.

    A day's increments depend only on the rows of the users active that day, up to it, so
    an incremental run recomputes the days from ``since`` on over those users' histories. A
    full run computes ``every_scope`` in one pass: one sort of the table, not one per scope.
    """
    columns = ",\n        ".join(f"SUM({expr}) AS {name}" for name, expr in ACTIVITY_SUMS.items())
    running = ",\n        ".join(
        f"{_running_sum(column, pre, integer)} AS {alias}"
        for alias, (column, pre, integer) in _RUNNING.items()
    )
    if every_scope and since is not None:
        raise ValueError("every_scope computes all days")
    rows = "1 = 1" if every_scope else "r.scope = %s AND r.scope_id = %s AND r.phase = %s"
    analysis = _flag("c.is_pre", False)
    if since is not None:
        rows += (
            f" AND {bytewise('r.user_id')} IN (SELECT s.user_id FROM analytics_userdailyrollup s"
            " WHERE s.scope = %s AND s.scope_id = %s AND s.phase = %s"
            f" AND s.day >= '{since.isoformat()}')"
        )
        analysis += f" AND c.day >= '{since.isoformat()}'"
    cumulative = _CUMULATIVE.format(running=running, rows=rows, user=bytewise("r.user_id"))
    return f"""
    SELECT c.scope, c.scope_id, c.phase, c.arm_id, c.day,
        {columns}
    FROM ({cumulative}) c
    WHERE {analysis}
    GROUP BY c.scope, c.scope_id, c.phase, c.arm_id, c.day
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


# --- winsorised sums, read by the report of a winsorised metric -------------------------------
# metric kind -> the user rollup column of its per-user amount (analysis-period total).
WINSORIZED_COLUMNS = {"watch_time": "watch_seconds"}


def _least(a: str, b: str) -> str:
    return f"LEAST({a}, {b})" if is_postgresql() else f"MIN({a}, {b})"


def user_totals_sql(kind: str) -> str:
    """Per exposed user with activity, the analysis-period total of ``kind``'s amount;
    params: the scope triple. Users without a row have 0."""
    column = WINSORIZED_COLUMNS[kind]
    return f"""
    SELECT r.user_id, SUM(r.{column}) AS v FROM analytics_userdailyrollup r
    WHERE r.scope = %s AND r.scope_id = %s AND r.phase = %s AND {_flag("r.is_pre", False)}
    GROUP BY r.user_id
    """


def ranked_total_sql(kind: str) -> str:
    """The user total at 0-based position ``%s`` in ascending order (the nearest-rank
    percentile, the same on both databases); params: the scope triple, then the offset."""
    return f"SELECT u.v FROM ({user_totals_sql(kind)}) u ORDER BY u.v LIMIT 1 OFFSET %s"


def winsorized_sums_sql(kind: str, cap: float) -> str:
    """Per (arm, day) increments of ``sum min(C, cap)``, ``sum min(C, cap)^2`` and
    ``sum min(C, cap) * pre`` over the users' cumulative totals ``C`` (named like the plain
    sums, ``w``, ``w2``, ``w_c``), as the arm statistics do (``ACTIVITY_SUMS``), with the cap
    fixed; params: the scope triple."""
    column = WINSORIZED_COLUMNS[kind]
    cap_sql = repr(float(cap))
    now, before = _least("c.c_v", cap_sql), _least("c.c_v - c.v", cap_sql)
    return f"""
    SELECT c.arm_id, c.day,
        SUM({now} - {before}) AS w,
        SUM({now} * {now} - {before} * {before}) AS w2,
        SUM(({now} - {before}) * c.pre_v) AS w_c
    FROM (
        SELECT r.arm_id, r.day, r.is_pre, r.{column} AS v,
            SUM(CASE WHEN r.is_pre THEN 0 ELSE r.{column} END) OVER win AS c_v,
            SUM(CASE WHEN r.is_pre THEN r.{column} ELSE 0 END) OVER win AS pre_v
        FROM analytics_userdailyrollup r
        WHERE r.scope = %s AND r.scope_id = %s AND r.phase = %s
        WINDOW win AS (PARTITION BY {bytewise("r.user_id")}
                       ORDER BY r.is_pre DESC, r.day ROWS UNBOUNDED PRECEDING)
    ) c
    WHERE {_flag("c.is_pre", False)}
    GROUP BY c.arm_id, c.day
    """
