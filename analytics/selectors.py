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

from django.db import connection
from django.db.models import Sum

from analytics.models import ArmDailyStats, ModelVersionDailyStats, RollupScope, RollupState
from analytics.services import rollup_sql as q
from analytics.stats.winsorize import cap_rank


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
