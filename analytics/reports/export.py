"""The report's table as CSV rows (one per metric and treatment variant)."""

from __future__ import annotations

import csv
import io

from analytics.reports.experiment import ExperimentReport

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
    "p_value",
    "p_value_kind",
    "adjusted_p_value",
    "noninferiority_p_value",
    "verdict",
]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def report_csv(report: ExperimentReport) -> str:
    """CSV text of every metric row of ``report``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    sequential = report.experiment.sequential_testing
    for row in report.rows:
        analysis = row.analysis
        ci = row.series.ci if row.series else None
        p_kind = ""
        if row.series and row.series.p_value is not None:
            p_kind = "always-valid" if row.series.sequential_p_value is not None else "fixed"
        writer.writerow(
            [
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
                    analysis.relative_effect if analysis else None,
                    analysis.relative_ci[0] if analysis else None,
                    analysis.relative_ci[1] if analysis else None,
                    row.series.p_value if row.series else None,
                    p_kind if row.section == "primary" or not sequential else p_kind,
                    row.adjusted_p_value,
                    row.guardrail.result.p_value
                    if row.guardrail and row.guardrail.result
                    else None,
                    row.verdict.text,
                )
            ]
        )
    return buffer.getvalue()
