"""The segment breakdown's SQL, for PostgreSQL and SQLite: one experiment phase's sufficient
statistics per (segment value, arm), read from the user rollup joined to the exposures.

The per-arm statistics of the rollup (:mod:`analytics.services.rollup_sql`) are sums over
users of functions of each user's cumulative totals, written as daily increments
``f(C) - f(P)``. A breakdown needs only the latest totals, so here each user's rows are summed
once (``C`` = the user's totals, ``P`` = 0) and the rollup's own expressions
(``ACTIVITY_SUMS``, ``EXPOSURE_SUMS``) are summed per segment value and arm: the statistics
carry the same names, so the report's metric code reads them unchanged, and the breakdown of
every value added up equals the experiment's latest sums.

A segment value is an attribute kept on the exposure row (``assignment_exposure.segments``,
text values) or the derived ``new_vs_returning`` (any pre-period activity in the rollup).
"""

from __future__ import annotations

from analytics.services.rollup_sql import (
    _PRE_TOTALS,
    _RUNNING,
    ACTIVITY_SUMS,
    EXPOSURE_SUMS,
    _flag,
)
from experiments.segments import NOT_SET, OTHER
from writebehind.bulk import is_postgresql

__all__ = ["segment_counts_sql", "segment_sums_sql"]

NEW, RETURNING = "new", "returning"


def _attribute_sql() -> str:
    """The text value of the attribute named by the parameter, on exposure alias ``e``;
    NULL when the exposure has none. Parameter: :func:`attribute_param`."""
    if is_postgresql():
        return "(e.segments ->> %s)"
    return "json_extract(e.segments, %s)"


def attribute_param(attribute: str) -> str:
    """The parameter of :func:`_attribute_sql` for ``attribute`` (SQLite: a JSON path; names
    hold no double quote, see ``experiments.segments``)."""
    return attribute if is_postgresql() else f'$."{attribute}"'


_EXPOSURES = """
    SELECT e.variant_id AS arm_id, e.user_id, {value} AS k
    FROM assignment_exposure e
    WHERE e.experiment_id = %s AND e.phase = %s AND e.id <= %s
"""


def segment_counts_sql() -> str:
    """The attribute's most frequent values, by exposed users (ties by value); params: the
    attribute's parameter, experiment id, phase, the last exposure id, how many values."""
    exposures = _EXPOSURES.format(value=_attribute_sql())
    return f"""
    SELECT x.k, COUNT(*) AS users FROM ({exposures}) x
    WHERE x.k IS NOT NULL AND x.k <> ''
    GROUP BY x.k ORDER BY COUNT(*) DESC, x.k
    LIMIT %s
    """


def _user_totals_sql() -> str:
    """Each user's totals over the phase's rollup rows: ``c_<x>`` (and ``<x>``, the same: the
    "day amount" of the rollup's expressions, here the whole period) of the analysis period,
    ``pre_<x>`` of the pre-period; params: scope triple."""
    columns = []
    for alias, (column, pre, integer) in _RUNNING.items():
        in_period, other = (f"r.{column}", "0") if pre else ("0", f"r.{column}")
        value = f"CASE WHEN r.is_pre THEN {in_period} ELSE {other} END"
        total = f"SUM({value})"
        if integer and is_postgresql():  # bigint arithmetic below, as the rollup's (not numeric)
            total = f"CAST(SUM(CAST({value} AS double precision)) AS bigint)"
        columns.append(f"{total} AS {alias}")
        if not pre:
            columns.append(f"{total} AS {alias.removeprefix('c_')}")
    return f"""
    SELECT r.user_id, {", ".join(columns)}
    FROM analytics_userdailyrollup r
    WHERE r.scope = %s AND r.scope_id = %s AND r.phase = %s
    GROUP BY r.user_id
    """


def segment_sums_sql(*, attribute: bool, kept: int) -> str:
    """Per (segment, arm) sums of the rollup's statistics over the phase's exposed users.

    ``attribute``: the segment is the exposure's attribute (the ``kept`` most frequent values
    by name, the others pooled as ``(other)``, none as ``(not set)``); else ``new`` or
    ``returning`` by pre-period activity. Params: with ``attribute``, the ``kept`` values then
    the attribute's parameter; then experiment id, phase, the last exposure id (the rollup's:
    the breakdown counts the users the rollup has read); then the scope triple twice (user
    totals, pre-period totals).
    """
    if attribute:
        chosen = f"WHEN x.k IN ({', '.join(['%s'] * kept)}) THEN x.k " if kept else ""
        value = _attribute_sql()
        segment = f"CASE WHEN x.k IS NULL OR x.k = '' THEN '{NOT_SET}' {chosen}ELSE '{OTHER}' END"
        segment_of = "s.segment"
    else:
        value = "NULL"
        segment = "NULL"
        segment_of = f"CASE WHEN pre.user_id IS NULL THEN '{NEW}' ELSE '{RETURNING}' END"
    exposures = _EXPOSURES.format(value=value)
    activity = ",\n        ".join(f"SUM({expr}) AS {name}" for name, expr in ACTIVITY_SUMS.items())
    exposed = ",\n        ".join(f"SUM({expr}) AS {name}" for name, expr in EXPOSURE_SUMS.items())
    pre = _PRE_TOTALS.format(is_pre=_flag("p.is_pre", True))
    return f"""
    SELECT {segment_of} AS segment, s.arm_id,
        {activity},
        {exposed}
    FROM (SELECT x.arm_id, x.user_id, {segment} AS segment FROM ({exposures}) x) s
    LEFT JOIN ({_user_totals_sql()}) c ON c.user_id = s.user_id
    LEFT JOIN ({pre}) pre ON pre.user_id = s.user_id
    GROUP BY {segment_of}, s.arm_id
    """
