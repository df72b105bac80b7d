"""The holdout report: everything launched, against the users who never saw a change."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.reports.empty_states import NO_MEANINGFUL_RELATIVE, holdout_missing
from analytics.reports.metrics import (
    MetricSeries,
    Verdict,
    analyze_series,
    effect_verdict,
    metric_users,
    metric_value,
    plotted_relative_percent,
)
from analytics.reports.quantiles import analyze_quantile_series
from analytics.selectors import ArmSeries, ArmUserDays, holdout_series, holdout_user_days
from experiments.models import Holdout, MetricDefinition

HELD_OUT, EXPOSED = 1, 0


@dataclass
class HoldoutRow:
    metric: MetricDefinition
    holdout_value: float | None
    rest_value: float | None
    holdout_users: int
    rest_users: int
    series: MetricSeries
    verdict: Verdict
    missing: str = ""  # why its chart is empty, and how to fill it


@dataclass
class HoldoutReport:
    holdout: Holdout | None
    rows: list[HoldoutRow]
    chart: dict
    alpha: float = 0.05

    @property
    def confidence_percent(self) -> str:
        return f"{100 * (1 - self.alpha):.4g}"

    @property
    def held_out_users(self) -> int:
        return self.rows[0].holdout_users if self.rows else 0

    @property
    def other_users(self) -> int:
        return self.rows[0].rest_users if self.rows else 0

    @property
    def missing(self) -> str:
        """Why the whole report is empty ("" when some users are counted)."""
        return "" if self.held_out_users or self.other_users else holdout_missing(0)


def _has_quantile_metric() -> bool:
    return MetricDefinition.objects.filter(statistic=MetricDefinition.Statistic.QUANTILE).exists()


def _quantile_row(
    metric: MetricDefinition,
    held: tuple[ArmSeries, ArmUserDays | None],
    rest: tuple[ArmSeries, ArmUserDays | None],
    alpha: float,
) -> HoldoutRow:
    """A quantile metric's row: each user's value, held-out users against everyone else."""
    if metric.quantile_level is None:  # refused by MetricDefinition.clean; written around it
        series, latest = MetricSeries(problem="no quantile level set for this metric"), None
    else:
        series, latest = analyze_quantile_series(
            metric.kind, float(metric.quantile_level), held, rest, alpha=alpha,
            sequential=False, planned_total=None,
        )  # fmt: skip
    return HoldoutRow(
        metric=metric,
        holdout_value=latest.control.value if latest else None,
        rest_value=latest.treatment.value if latest else None,
        holdout_users=metric_users(held[0].latest, "ctr"),
        rest_users=metric_users(rest[0].latest, "ctr"),
        series=series,
        verdict=effect_verdict(
            series, higher_is_better=metric.higher_is_better, alpha=alpha, srm_flagged=False
        ),
    )


def build_holdout_report(holdout: Holdout | None = None, alpha: float = 0.05) -> HoldoutReport:
    """Each metric: the held-out users as control, everyone else as treatment."""
    holdout = holdout or Holdout.objects.filter(is_active=True).first()
    if holdout is None:
        return HoldoutReport(None, [], {"days": [], "lines": []}, alpha)
    series = holdout_series(holdout.id)
    held, rest = series.get(HELD_OUT, ArmSeries(HELD_OUT)), series.get(EXPOSED, ArmSeries(EXPOSED))
    rows = []
    user_days = holdout_user_days(holdout.id) if _has_quantile_metric() else {}
    for metric in MetricDefinition.objects.order_by("key"):
        if metric.statistic == MetricDefinition.Statistic.QUANTILE:
            rows.append(_quantile_row(metric, (held, user_days.get(HELD_OUT)),
                                      (rest, user_days.get(EXPOSED)), alpha))  # fmt: skip
            continue
        analysis = analyze_series(
            metric.kind,
            metric.statistic,
            held,
            rest,
            alpha=alpha,
            sequential=False,
            planned_total=None,
        )
        rows.append(
            HoldoutRow(
                metric=metric,
                holdout_value=metric_value(held.latest, metric.kind, metric.statistic),
                rest_value=metric_value(rest.latest, metric.kind, metric.statistic),
                holdout_users=metric_users(held.latest, "ctr"),
                rest_users=metric_users(rest.latest, "ctr"),
                series=analysis,
                verdict=effect_verdict(
                    analysis,
                    higher_is_better=metric.higher_is_better,
                    alpha=alpha,
                    srm_flagged=False,
                ),
            )
        )
    # One chart per metric, each on its own scale: a metric with a near-zero baseline can no
    # longer flatten the others, and its meaningless points are gaps (plotted_relative_percent).
    lines = []
    for row in rows:
        plotted = plotted_relative_percent(row.series.relative)
        if not row.series.days:
            users = min(row.holdout_users, row.rest_users)
            row.missing = holdout_missing(users, row.metric.name, row.series.problem)
        elif all(value is None for value in plotted):
            row.missing = NO_MEANINGFUL_RELATIVE
        else:
            lines.append(
                {
                    "key": row.metric.key,
                    "label": row.metric.name,
                    "days": [d.isoformat() for d in row.series.days],
                    "relative": plotted,
                }
            )
    days = sorted({d for arm in (held, rest) for d in arm.days})
    chart = {"days": [d.isoformat() for d in days], "lines": lines}
    return HoldoutReport(holdout, rows, chart, alpha)
