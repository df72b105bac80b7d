"""Reads of analytics: each arm's cumulative sums per day, from the rollup tables.

Report pages and the CSV export read these; nothing here touches the raw events except the
per-model-version CTR, which reads served lists joined to the rollups' window of events. Which
sums make which metric's statistics is the reports' business (:mod:`analytics.reports.metrics`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from django.db import connection
from django.db.models import Sum

from analytics.models import (
    ArmDailyStats,
    ModelVersionDailyStats,
    RollupScope,
    RollupState,
    UserDailyRollup,
)
from analytics.services import rollup_sql as q
from analytics.services import segment_sql
from analytics.stats.winsorize import cap_rank
from experiments.segments import NEW_VS_RETURNING, TOP_SEGMENT_VALUES


@dataclass
class ArmSeries:
    """One arm's cumulative sums at the end of each day that changed them."""

    arm_id: int
    days: list[date] = field(default_factory=list)
    cumulative: list[dict[str, float]] = field(default_factory=list)
    daily_exposures: list[int] = field(default_factory=list)

    @property
    def latest(self) -> dict[str, float]:
        return self.cumulative[-1] if self.cumulative else {}

    def at(self, day: date) -> dict[str, float]:
        """The cumulative sums at the end of ``day`` (the last change on or before it)."""
        found: dict[str, float] = {}
        for d, sums in zip(self.days, self.cumulative, strict=True):
            if d > day:
                break
            found = sums
        return found


def arm_series(scope: str, scope_id: int, phase: int) -> dict[int, ArmSeries]:
    """Running sums over days of each arm's daily increments (one query)."""
    rows = ArmDailyStats.objects.filter(scope=scope, scope_id=scope_id, phase=phase).order_by(
        "arm_id", "day"
    )
    series: dict[int, ArmSeries] = {}
    for arm_id, day, sums in rows.values_list("arm_id", "day", "sums"):
        _add_day(series, arm_id, day, sums)
    return series


def current_phase_series(phases: Mapping[int, int]) -> dict[int, dict[int, ArmSeries]]:
    """Each experiment's arms' running sums for its phase (experiment id -> phase in
    ``phases``), in one query: the experiment list reads every running experiment at once."""
    out: dict[int, dict[int, ArmSeries]] = defaultdict(dict)
    rows = (
        ArmDailyStats.objects.filter(scope=RollupScope.EXPERIMENT, scope_id__in=list(phases))
        .order_by("scope_id", "arm_id", "day")
        .values_list("scope_id", "phase", "arm_id", "day", "sums")
    )
    for experiment_id, phase, arm_id, day, sums in rows:
        if phase == phases[experiment_id]:
            _add_day(out[experiment_id], arm_id, day, sums)
    return out


def _add_day(series: dict[int, ArmSeries], arm_id: int, day: date, sums: dict) -> None:
    """Append one day's increments of an arm (days in order) to its running sums."""
    arm = series.setdefault(arm_id, ArmSeries(arm_id))
    running = dict(arm.latest)
    for name, value in sums.items():
        running[name] = running.get(name, 0.0) + value
    arm.days.append(day)
    arm.cumulative.append(running)
    arm.daily_exposures.append(int(round(sums.get("n", 0.0))))


def experiment_series(experiment_id: int, phase: int) -> dict[int, ArmSeries]:
    return arm_series(RollupScope.EXPERIMENT, experiment_id, phase)


def holdout_series(holdout_id: int) -> dict[int, ArmSeries]:
    return arm_series(RollupScope.HOLDOUT, holdout_id, 0)


@dataclass
class ArmUserDays:
    """One arm's per-user, per-day rows of the analysis period (not the pre-period), as
    columns in (user, day) order: ``user`` numbers the users 0.. in the order of their ids,
    ``day`` is the date's ordinal. Quantile metrics need the users' values, not only sums."""

    user: np.ndarray
    day: np.ndarray
    watch_seconds: np.ndarray
    first_interactions: np.ndarray
    first_interaction_seconds: np.ndarray


_USER_DAY_COLUMNS = ("watch_seconds", "first_interactions", "first_interaction_seconds")


def arm_user_days(scope: str, scope_id: int, phase: int) -> dict[int, ArmUserDays]:
    """Each arm's user-day rows from the per-user rollup (one query, every row of the phase).

    The rows are put in (user id, day) order here rather than by the database, whose text
    ordering differs between PostgreSQL's collations and SQLite, so both give the same
    arrays (and the same per-user sums, added in the same order).
    """
    rows = UserDailyRollup.objects.filter(
        scope=scope, scope_id=scope_id, phase=phase, is_pre=False
    ).values_list("arm_id", "user_id", "day", *_USER_DAY_COLUMNS)
    by_arm: dict[int, list[tuple]] = defaultdict(list)
    for arm_id, user_id, day, *values in rows:
        by_arm[arm_id].append((user_id, day.toordinal(), *values))
    out = {}
    for arm_id, arm_rows in by_arm.items():
        arm_rows.sort(key=lambda row: (row[0], row[1]))
        user_ids = [row[0] for row in arm_rows]
        _, user = np.unique(np.array(user_ids, dtype=object), return_inverse=True)
        columns = list(zip(*(row[1:] for row in arm_rows), strict=True))
        out[arm_id] = ArmUserDays(
            user.ravel().astype(np.int64),
            np.asarray(columns[0], dtype=np.int64),
            *(np.asarray(column, dtype=float) for column in columns[1:]),
        )
    return out


def experiment_user_days(experiment_id: int, phase: int) -> dict[int, ArmUserDays]:
    return arm_user_days(RollupScope.EXPERIMENT, experiment_id, phase)


def holdout_user_days(holdout_id: int) -> dict[int, ArmUserDays]:
    return arm_user_days(RollupScope.HOLDOUT, holdout_id, 0)


def winsorization_cap(
    experiment_id: int, phase: int, kind: str, percentile: float, exposed: int
) -> float | None:
    """The ``percentile`` (nearest rank) of the per-user totals of ``kind`` over all
    ``exposed`` users of the phase, every arm pooled; users without activity count as 0
    (amounts are never negative, so they sort first). None without exposed users."""
    if exposed < 1:
        return None
    rank = cap_rank(exposed, percentile)
    triple = [RollupScope.EXPERIMENT, experiment_id, phase]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({q.user_totals_sql(kind)}) u", triple)
        active = int(cursor.fetchone()[0])
        offset = rank - 1 - (exposed - active)
        if offset < 0:
            return 0.0
        cursor.execute(q.ranked_total_sql(kind), [*triple, offset])
        row = cursor.fetchone()
    return None if row is None else float(row[0])


def winsorized_series(
    experiment_id: int, phase: int, kind: str, cap: float, series: dict[int, ArmSeries]
) -> dict[int, ArmSeries]:
    """``series`` with ``kind``'s per-user amount capped at ``cap`` in its sums (the same
    names: ``w``, ``w2``, ``w_c`` for watch time), day by day; everything else unchanged."""
    increments: dict[int, dict[date, dict[str, float]]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            q.winsorized_sums_sql(kind, cap), [RollupScope.EXPERIMENT, experiment_id, phase]
        )
        names = [col[0] for col in cursor.description][2:]
        for arm_id, day, *values in cursor.fetchall():
            day = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
            increments[int(arm_id)][day] = {
                n: float(v or 0.0) for n, v in zip(names, values, strict=True)
            }
    capped: dict[int, ArmSeries] = {}
    for arm_id, arm in series.items():
        running = dict.fromkeys(names, 0.0)
        out = ArmSeries(arm_id, list(arm.days), [], list(arm.daily_exposures))
        by_day = increments.get(arm_id, {})
        for day, sums in zip(arm.days, arm.cumulative, strict=True):
            for name, value in by_day.get(day, {}).items():
                running[name] += value
            out.cumulative.append({**sums, **running})
        capped[arm_id] = out
    return capped


def rollup_state() -> RollupState | None:
    return RollupState.objects.filter(name="default").first()


@dataclass
class ModelVersionCtr:
    """Pooled CTR of the lists one model version served in one variant (exact attribution)."""

    variant_key: str
    model_version: str
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None


def ctr_by_model_version(experiment_key: str) -> list[ModelVersionCtr]:
    """Impressions and clicks credited by ``request_id`` to each (variant, model version)."""
    rows = (
        ModelVersionDailyStats.objects.filter(experiment_key=experiment_key)
        .values("variant_key", "model_version")
        .annotate(impressions=Sum("impressions"), clicks=Sum("clicks"))
        .order_by("variant_key", "model_version")
    )
    return [
        ModelVersionCtr(r["variant_key"], r["model_version"], r["impressions"], r["clicks"])
        for r in rows
    ]


# segment value -> arm id -> the rollup's statistics summed over that segment's users.
SegmentSums = dict[str, dict[int, dict[str, float]]]


def segment_sums(
    experiment_id: int, phase: int, attribute: str, *, top: int = TOP_SEGMENT_VALUES
) -> SegmentSums:
    """The latest statistics of each arm within each value of ``attribute`` (a segment
    attribute kept on the exposures, or ``new_vs_returning``): the ``top`` most exposed values,
    the rest pooled as ``(other)``, missing ones as ``(not set)``. Only the exposures the last
    rollup read count, so the values add up to the report's arms. Three queries at most."""
    scope = [RollupScope.EXPERIMENT.value, experiment_id, phase]
    state = rollup_state()
    read = [experiment_id, phase, state.exposures_until_id if state else 0]
    with connection.cursor() as cursor:
        if attribute == NEW_VS_RETURNING:
            cursor.execute(
                segment_sql.segment_sums_sql(attribute=False, kept=0), [*read, *scope, *scope]
            )
        else:
            name = segment_sql.attribute_param(attribute)
            cursor.execute(segment_sql.segment_counts_sql(), [name, *read, top])
            kept = [value for value, _ in cursor.fetchall()]
            cursor.execute(
                segment_sql.segment_sums_sql(attribute=True, kept=len(kept)),
                [*kept, name, *read, *scope, *scope],
            )
        names = [column[0] for column in cursor.description]
        out: SegmentSums = {}
        for segment, arm_id, *values in cursor.fetchall():
            out.setdefault(str(segment), {})[int(arm_id)] = {
                name: 0.0 if value is None else float(value)
                for name, value in zip(names[2:], values, strict=True)
            }
    return out
