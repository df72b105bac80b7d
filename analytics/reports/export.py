"""The report's table as CSV rows (one per metric and treatment variant), and optionally one
segment breakdown's rows (``segment_attribute`` and ``segment_value`` set; p-values adjusted
across the segments; the sums columns left empty)."""

from __future__ import annotations

import csv
import io

from analytics.reports.experiment import ExperimentReport, MetricRow
from analytics.reports.metrics import sufficient_stats
from analytics.reports.segments import SegmentBreakdown
from analytics.selectors import experiment_series

HEADER = [
    "experiment",
    "phase",
    "section",
    "metric",
    "statistic",
    "variant",
    "control_users",
    "treatment_users",
    "control_value",
    "treatment_value",
    "absolute_effect",
    "ci_lower",
    "ci_upper",
    "relative_effect",
    "relative_ci_lower",
    "relative_ci_upper",
    # Why the three relative cells are empty where the page says "not meaningful" (a control
    # mean not distinguishable from 0, or an effect beyond +-1,000%): the results API's
    # ``series.relative_problem``, word for word. Empty when the relative effect is usable.
    "relative_problem",
    "p_value",
    "p_value_kind",
    "adjusted_p_value",
    "noninferiority_p_value",
    "verdict",
    # The sums behind each value, so that counts can be reconciled exactly with what clients
    # sent: numerator = sum of x (clicks, converted users, seconds), denominator = sum of y
    # for a ratio (impressions, sessions), else the users the value is over (both empty for
    # a quantile).
    "control_numerator",
    "control_denominator",
    "treatment_numerator",
    "treatment_denominator",
    # Empty for the whole experiment; set on the rows of a segment breakdown (exploratory).
    "segment_attribute",
    "segment_value",
]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _sums(latest: dict[str, float], kind: str, statistic: str) -> tuple[float | None, ...]:
    if statistic == "quantile":  # a quantile is not a sum (its users are in *_users)
        return None, None
    stats = sufficient_stats(latest, kind)
    if stats is None:
        return None, None
    return stats.sum_x, stats.sum_y if statistic == "ratio" else float(stats.n)


def _cells(report: ExperimentReport, row: MetricRow, sums: tuple, segment: tuple) -> list[str]:
    """One CSV line: ``sums`` the four numerator/denominator cells, ``segment`` the last two.

    A relative effect the page shows as "not meaningful" is written as empty cells and its
    reason, never as the raw quotient: a spreadsheet would sort or chart -2,079,221% as a
    lift."""
    analysis = row.analysis
    ci = row.series.ci if row.series else None
    problem = row.series.relative_problem if row.series else ""
    relative = None if analysis is None or problem else analysis.relative_effect
    relative_ci = (None, None) if analysis is None or problem else analysis.relative_ci
    p_kind = ""
    if row.series and row.series.p_value is not None:
        p_kind = "always-valid" if row.series.sequential_p_value is not None else "fixed"
    return [
        _cell(x)
        for x in (
            report.experiment.key,
            report.phase,
            row.section,
            row.metric.key,
            row.metric.statistic,
            row.variant.key,
            row.control_users,
            row.treatment_users,
            row.control_value,
            row.treatment_value,
            analysis.absolute_effect if analysis else None,
            ci[0] if ci else None,
            ci[1] if ci else None,
            relative,
            *relative_ci,
            problem,
            row.series.p_value if row.series else None,
            p_kind,
            row.adjusted_p_value,
            row.guardrail.result.p_value if row.guardrail and row.guardrail.result else None,
            row.verdict.text,
            *sums,
            *segment,
        )
    ]


def report_csv(report: ExperimentReport, segments: SegmentBreakdown | None = None) -> str:
    """CSV text of every metric row of ``report``, then those of ``segments`` if given."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    series = experiment_series(report.experiment.id, report.phase)
    control_id = report.control.id if report.control else None
    for row in report.rows:
        kind, statistic = row.metric.kind, row.metric.statistic
        control_sums = series[control_id].latest if control_id in series else {}
        treatment_sums = series[row.variant.id].latest if row.variant.id in series else {}
        sums = (*_sums(control_sums, kind, statistic), *_sums(treatment_sums, kind, statistic))
        writer.writerow(_cells(report, row, sums, (None, None)))
    for value in segments.values if segments else ():
        for row in value.primary + value.guardrails:
            segment = (segments.attribute, value.value)
            writer.writerow(_cells(report, row, (None,) * 4, segment))
    return buffer.getvalue()
