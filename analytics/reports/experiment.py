"""The experiment report: SRM, primary metric, guardrails, secondary metrics, chart data.

Everything is read from the per-arm daily statistics of the rollup (a few rows per arm and
day) plus the experiment's definition, so a report over a million users costs the same as
one over a hundred.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

import numpy as np
from django.utils import timezone

from analytics.reports.decision import Decision, decide
from analytics.reports.empty_states import exposures_missing, metric_missing
from analytics.reports.metrics import (
    AnalysisOptions,
    GuardrailResult,
    MetricSeries,
    Verdict,
    analyze_series,
    effect_verdict,
    guardrail,
    metric_users,
    metric_value,
)
from analytics.reports.quantiles import analyze_quantile_series, quantile_guardrail, quantile_looks
from analytics.selectors import (
    ArmSeries,
    ArmUserDays,
    ModelVersionCtr,
    ctr_by_model_version,
    experiment_series,
    experiment_user_days,
    rollup_state,
    winsorization_cap,
    winsorized_series,
)
from analytics.stats import SrmResult, adjust_pvalues, srm_test
from experiments.models import Experiment, MetricDefinition, Variant

QUANTILE = MetricDefinition.Statistic.QUANTILE


@dataclass
class MetricRow:
    """One metric for one treatment variant against control."""

    section: str  # primary, guardrail, secondary
    metric: MetricDefinition
    variant: Variant
    control_value: float | None
    treatment_value: float | None
    control_users: int
    treatment_users: int
    series: MetricSeries | None = None
    guardrail: GuardrailResult | None = None
    adjusted_p_value: float | None = None
    verdict: Verdict = field(default_factory=lambda: Verdict("", "neutral"))

    @property
    def analysis(self):
        return None if self.series is None else self.series.latest


@dataclass
class ArmAnalysis:
    """What the report decides on, from the arms' running sums: SRM, each treatment's
    primary, guardrail and secondary rows, and the recommendation."""

    variants: list[Variant]
    control: Variant | None
    exposures: dict[int, int]
    weights: list[float]
    srm: SrmResult | None
    srm_problem: str
    days_running: float
    preliminary: bool
    primary: list[MetricRow]
    guardrails: list[MetricRow]
    secondary: list[MetricRow]
    decision: Decision


@dataclass
class ExperimentReport(ArmAnalysis):
    """The report page: the arms' analysis plus what the page draws and when it was rolled up."""

    experiment: Experiment
    phase: int
    chart: dict
    rolled_up_at: datetime | None
    model_versions: list[ModelVersionCtr] = field(default_factory=list)

    @property
    def confidence_percent(self) -> str:
        """The experiment's own confidence level, ``100 (1 - alpha)``, as the page prints it."""
        return f"{100 * (1 - float(self.experiment.alpha)):.4g}"

    @property
    def primary_adjusted(self) -> bool:
        """More than one treatment: the primary p-values are Holm-adjusted across arms."""
        return len(self.primary) > 1

    @property
    def total_exposed(self) -> int:
        return sum(self.exposures.values())

    @property
    def missing(self) -> dict[str, str]:
        """Chart name -> what it lacks and how to get it, for each chart with nothing to draw."""
        exposures = exposures_missing(
            self.experiment,
            phase=self.phase,
            exposed=self.total_exposed,
            rolled_up_at=self.rolled_up_at,
        )
        if exposures:
            return {"exposures": exposures, "effect": exposures}
        metric = self.experiment.primary_metric
        if metric is None:
            return {"effect": "No primary metric is set: choose one on the experiment's Edit page."}
        if self.chart["effect"]:
            return {}
        problem = self.primary[0].series.problem if self.primary else "no treatment variant"
        return {"effect": metric_missing(metric.name, exposed=self.total_exposed, problem=problem)}

    @property
    def rows(self) -> list[MetricRow]:
        return self.primary + self.guardrails + self.secondary

    @property
    def exposure_rows(self) -> list[tuple[Variant, int, float | None]]:
        """(variant, users exposed, users expected by the SRM test's split)."""
        expected = iter(self.srm.expected_counts) if self.srm else iter(())
        rows = []
        for variant, weight in zip(self.variants, self.weights, strict=True):
            share = next(expected, None) if weight > 0 else None
            rows.append((variant, self.exposures.get(variant.id, 0), share))
        return rows


def days_running(experiment: Experiment, now: datetime) -> float:
    """Days since the start (until the stop, if stopped)."""
    if experiment.started_at is None:
        return 0.0
    end = experiment.stopped_at or now
    return max((end - experiment.started_at).total_seconds() / 86400, 0.0)


def _weights(experiment: Experiment, phase: int, variants: list[Variant]) -> list[float]:
    # Read through the prefetchable relation, not a filter: one query for many experiments.
    phase_row = next((p for p in experiment.phases.all() if p.number == phase), None)
    configured = phase_row.weights if phase_row and phase_row.weights else {}
    return [float(configured.get(v.key, v.weight)) for v in variants]


def srm_check(
    variants: list[Variant], exposures: dict[int, int], weights: list[float]
) -> tuple[SrmResult | None, str]:
    counts = [exposures.get(v.id, 0) for v in variants]
    pairs = [(c, w) for c, w in zip(counts, weights, strict=True) if w > 0]
    if len(pairs) < 2 or sum(c for c, _ in pairs) == 0:
        return None, "no exposures yet"
    try:
        return srm_test([c for c, _ in pairs], [w for _, w in pairs]), ""
    except ValueError as exc:
        return None, str(exc)


def _metric_row(
    section: str,
    metric: MetricDefinition,
    control: ArmSeries,
    treatment: ArmSeries,
    variant: Variant,
) -> MetricRow:
    return MetricRow(
        section=section,
        metric=metric,
        variant=variant,
        control_value=metric_value(control.latest, metric.kind, metric.statistic),
        treatment_value=metric_value(treatment.latest, metric.kind, metric.statistic),
        control_users=metric_users(control.latest, metric.kind),
        treatment_users=metric_users(treatment.latest, metric.kind),
    )


def _quantile_row(
    section: str,
    metric: MetricDefinition,
    control: tuple[ArmSeries, ArmUserDays | None],
    treatment: tuple[ArmSeries, ArmUserDays | None],
    variant: Variant,
    *,
    alpha: float,
    sequential: bool,
    planned_total: int | None,
) -> MetricRow:
    """A quantile metric's row (``reports.quantiles``): effect rows get the series over days,
    guardrails the non-inferiority test at the latest look."""
    if metric.quantile_level is None:  # refused by MetricDefinition.clean; written around it
        problem = "no quantile level set for this metric"
        row = MetricRow(section, metric, variant, None, None, 0, 0, MetricSeries(problem=problem))
        row.verdict = Verdict(problem, "warn")  # effect rows: their verdict says the same
        return row
    level = float(metric.quantile_level)
    if section == "guardrail":
        looks = quantile_looks(metric.kind, level, control, treatment, alpha=alpha, last_only=True)
        series, latest = None, looks[-1][1] if looks else None
    else:
        series, latest = analyze_quantile_series(
            metric.kind, level, control, treatment, alpha=alpha, sequential=sequential,
            planned_total=planned_total,
        )  # fmt: skip
    row = MetricRow(
        section=section,
        metric=metric,
        variant=variant,
        control_value=latest.control.value if latest else None,
        treatment_value=latest.treatment.value if latest else None,
        control_users=latest.control.units if latest else 0,
        treatment_users=latest.treatment.units if latest else 0,
        series=series,
    )
    if section == "guardrail":
        row.guardrail = quantile_guardrail(
            latest, margin=metric.noninferiority_margin,
            margin_is_relative=metric.margin_is_relative,
            higher_is_better=metric.higher_is_better, alpha=alpha, sequential=sequential,
            planned_total=planned_total,
        )  # fmt: skip
        row.verdict = row.guardrail.verdict
    return row


def _metric_series(
    experiment: Experiment,
    phase: int,
    metric: MetricDefinition,
    series: dict[int, ArmSeries],
    exposed: int,
) -> tuple[dict[int, ArmSeries], float | None]:
    """The arms' sums as ``metric`` is analysed: winsorised at its percentile's cap (two
    queries over the user rollup, only for a metric that asks for it), else as they are."""
    percentile = metric.winsorize_percentile
    if percentile is None:
        return series, None
    try:
        cap = winsorization_cap(experiment.id, phase, metric.kind, percentile, exposed)
    except (ValueError, KeyError):  # a percentile or kind stored around the metric's checks
        cap = None
    if cap is None:
        return series, None
    return winsorized_series(experiment.id, phase, metric.kind, cap, series), cap


def _analyzed_row(
    section: str,
    metric: MetricDefinition,
    arms: tuple[dict[int, ArmSeries], float | None],
    control: Variant | None,
    variant: Variant,
    **analysis,
) -> MetricRow:
    """A primary or secondary row: ``metric`` analysed with its options on ``arms`` (its
    sums, winsorised or not, and the cap)."""
    series, cap = arms
    empty = ArmSeries(arm_id=0)
    control_series = series.get(control.id, empty) if control else empty
    treatment_series = series.get(variant.id, empty)
    row = _metric_row(section, metric, control_series, treatment_series, variant)
    options = AnalysisOptions.of(metric)
    row.series = analyze_series(
        metric.kind, metric.statistic, control_series, treatment_series, options=options,
        **analysis,
    )  # fmt: skip
    if cap is not None:
        row.series.applied.winsorized_at = cap
        row.series.applied.winsorize_percentile = options.winsorize_percentile
    return row


def _planned_total(experiment: Experiment) -> int | None:
    """Users planned for one comparison (control plus one treatment): the sequential tuning
    size of each treatment-vs-control test, whatever the number of arms."""
    if experiment.planned_sample_size:
        return int(experiment.planned_sample_size) * 2
    return None


def _chart(report_rows: list[MetricRow], series: dict[int, ArmSeries], variants) -> dict:
    """Data for the two charts: cumulative primary effect with its band, daily exposures."""
    all_days = sorted({d for arm in series.values() for d in arm.days})
    exposures = []
    for v in variants:
        arm = series.get(v.id)
        by_day = dict(zip(arm.days, arm.daily_exposures, strict=True)) if arm else {}
        exposures.append({"label": v.key, "data": [by_day.get(d, 0) for d in all_days]})
    effect = []
    rate = bool(report_rows) and report_rows[0].metric.statistic in ("proportion", "ratio")
    scale = 100.0 if rate else 1.0  # rates in percentage points, as in the table

    def scaled(values: list[float]) -> list[float | None]:
        # None (a gap), never NaN or Infinity: the page's JSON.parse would refuse them;
        # a one-sided test's band is a half-line, its open end drawn as no bound.
        return [round(v * scale, 6) if math.isfinite(v) else None for v in values]

    for row in report_rows:
        s = row.series
        if s is None or not s.days:
            continue
        effect.append(
            {
                "label": row.variant.key,
                "days": [d.isoformat() for d in s.days],
                "effect": scaled(s.effects),
                "lower": scaled(s.lower),
                "upper": scaled(s.upper),
            }
        )
    return {
        "days": [d.isoformat() for d in all_days],
        "exposures": exposures,
        "effect": effect,
        "unit": "percentage points" if rate else "",
        "metric": report_rows[0].metric.name if report_rows else "",
    }


def analyze_arms(
    experiment: Experiment,
    phase: int,
    series: dict[int, ArmSeries],
    *,
    now: datetime,
    with_secondary: bool = True,
    latest_only: bool = False,
    user_days: Callable[[], Mapping[int, ArmUserDays]] | None = None,
) -> ArmAnalysis:
    """The report's analysis of ``series`` (arm id -> running sums of ``phase``); it reads
    only the experiment's prefetched relations (variants, phases, metrics), so the home page
    makes the same decision as the report for many experiments without a query each (but
    for a winsorised metric, whose cap needs the per-user rollup: two queries).

    ``latest_only``: for a caller that reads only the latest analysis of each row (the
    experiment lists): no daily series, the same verdicts and decision (``analyze_series``).

    Quantile metrics need each user's values, not sums: ``user_days`` loads them (arm id ->
    rows; default: one query of the per-user rollup of ``phase``, made only when the
    experiment has a quantile metric)."""
    load_user_days = functools.cache(
        user_days or (lambda: experiment_user_days(experiment.id, phase))
    )
    variants = sorted(experiment.variants.all(), key=lambda v: (not v.is_control, v.position))
    control = next((v for v in variants if v.is_control), None)
    empty = ArmSeries(arm_id=0)
    exposures = {v.id: metric_users(series.get(v.id, empty).latest, "ctr") for v in variants}
    weights = _weights(experiment, phase, variants)
    srm, srm_problem = srm_check(variants, exposures, weights)
    srm_flagged = bool(srm and srm.flagged)
    alpha = float(experiment.alpha)
    planned = _planned_total(experiment)
    treatments = [v for v in variants if v is not control]
    control_series = series.get(control.id, empty) if control else empty

    primary: list[MetricRow] = []
    guardrails: list[MetricRow] = []
    secondary: list[MetricRow] = []
    metric = experiment.primary_metric
    sequential = experiment.sequential_testing

    def quantile_row(section: str, m: MetricDefinition, variant: Variant) -> MetricRow:
        rows = load_user_days()
        arm = control.id if control else None
        return _quantile_row(
            section, m, (control_series, rows.get(arm)),
            (series.get(variant.id, empty), rows.get(variant.id)), variant, alpha=alpha,
            sequential=sequential and section != "secondary", planned_total=planned,
        )  # fmt: skip

    exposed = sum(exposures.values())
    secondaries = list(experiment.secondary_metrics.all()) if with_secondary else []
    arms_of = {
        m.id: _metric_series(experiment, phase, m, series, exposed)
        for m in [metric, *secondaries]
        if m is not None and m.statistic != QUANTILE
    }
    for variant in treatments:
        treatment_series = series.get(variant.id, empty)
        if metric is not None and metric.statistic == QUANTILE:
            primary.append(quantile_row("primary", metric, variant))
        elif metric is not None:
            row = _analyzed_row(
                "primary", metric, arms_of[metric.id], control, variant, alpha=alpha,
                sequential=sequential, planned_total=planned, latest_only=latest_only,
            )  # fmt: skip
            primary.append(row)
        for g in experiment.guardrail_metrics.all():
            if g.statistic == QUANTILE:
                guardrails.append(quantile_row("guardrail", g, variant))
                continue
            row = _metric_row("guardrail", g, control_series, treatment_series, variant)
            row.guardrail = guardrail(
                g.kind,
                g.statistic,
                control_series.latest,
                treatment_series.latest,
                margin=g.noninferiority_margin,
                margin_is_relative=g.margin_is_relative,
                higher_is_better=g.higher_is_better,
                alpha=alpha,
                sequential=experiment.sequential_testing,
                planned_total=planned,
            )
            row.verdict = row.guardrail.verdict
            guardrails.append(row)
        for s in secondaries:
            if s.statistic == QUANTILE:
                secondary.append(quantile_row("secondary", s, variant))
                continue
            row = _analyzed_row(
                "secondary", s, arms_of[s.id], control, variant, alpha=alpha,
                sequential=False, planned_total=planned, latest_only=latest_only,
            )  # fmt: skip
            secondary.append(row)
    _correct_primary(primary, alpha, srm_flagged)
    _correct_secondary(secondary, alpha, srm_flagged)
    return ArmAnalysis(
        variants=variants,
        control=control,
        exposures=exposures,
        weights=weights,
        srm=srm,
        srm_problem=srm_problem,
        primary=primary,
        guardrails=guardrails,
        secondary=secondary,
        **_as_of(now, experiment, primary, guardrails, srm),
    )


def at_time(analysis: ArmAnalysis, experiment: Experiment, now: datetime) -> ArmAnalysis:
    """``analysis`` as of ``now``. Its rows depend only on the sums and the configuration, so
    an analysis made earlier from the same rollup is brought up to date by this alone."""
    return replace(
        analysis, **_as_of(now, experiment, analysis.primary, analysis.guardrails, analysis.srm)
    )


def _as_of(
    now: datetime,
    experiment: Experiment,
    primary: list[MetricRow],
    guardrails: list[MetricRow],
    srm: SrmResult | None,
) -> dict:
    """What changes with the clock: days running, whether the minimum runtime has passed,
    and the decision that follows."""
    running = days_running(experiment, now)
    preliminary = running < experiment.min_runtime_days
    srm_flagged = bool(srm and srm.flagged)
    return {
        "days_running": running,
        "preliminary": preliminary,
        "decision": decide(primary, guardrails, srm_flagged=srm_flagged, preliminary=preliminary),
    }


def build_experiment_report(
    experiment: Experiment, *, phase: int | None = None, now: datetime | None = None
) -> ExperimentReport:
    """Assemble the whole report for one phase of ``experiment`` (default: the current one)."""
    now = now or timezone.now()
    phase = phase or experiment.current_phase
    series = experiment_series(experiment.id, phase)
    arms = analyze_arms(experiment, phase, series, now=now)
    return ExperimentReport(
        **{f.name: getattr(arms, f.name) for f in fields(ArmAnalysis)},
        experiment=experiment,
        phase=phase,
        chart=_chart(arms.primary, series, arms.variants),
        rolled_up_at=getattr(rollup_state(), "last_run_at", None),
        model_versions=ctr_by_model_version(experiment.key),
    )


def _correct_primary(rows: list[MetricRow], alpha: float, srm_flagged: bool) -> None:
    """Verdicts of the primary metric; with several treatments, on Holm-adjusted p-values
    across the arms (family-wise error of "some arm wins" at ``alpha``; Holm is valid for
    always-valid p-values too, so it applies to sequential experiments alike)."""
    tested = [r for r in rows if r.series and r.series.p_value is not None]
    if len(rows) > 1 and tested:
        adjusted = adjust_pvalues(np.array([r.series.p_value for r in tested]), method="holm")
        for row, p in zip(tested, adjusted, strict=True):
            row.adjusted_p_value = float(p)
    for row in rows:
        row.verdict = effect_verdict(
            row.series,
            higher_is_better=row.metric.higher_is_better,
            alpha=alpha,
            srm_flagged=srm_flagged,
            p_value=row.adjusted_p_value,
        )


def _correct_secondary(rows: list[MetricRow], alpha: float, srm_flagged: bool) -> None:
    """Holm-adjust the secondary metrics' p-values across variants and metrics."""
    tested = [r for r in rows if r.series and r.series.p_value is not None]
    if tested:
        adjusted = adjust_pvalues(np.array([r.series.p_value for r in tested]), method="holm")
        for row, p in zip(tested, adjusted, strict=True):
            row.adjusted_p_value = float(p)
    for row in rows:
        if srm_flagged:
            row.verdict = Verdict("invalid: sample ratio mismatch", "bad")
        elif row.adjusted_p_value is None:
            row.verdict = Verdict(row.series.problem or "not enough data yet", "neutral")
        elif row.adjusted_p_value >= alpha:
            row.verdict = Verdict("no significant difference", "neutral")
        else:
            better = (row.series.latest.absolute_effect > 0) == row.metric.higher_is_better
            row.verdict = (
                Verdict("treatment better", "good") if better else Verdict("treatment worse", "bad")
            )
