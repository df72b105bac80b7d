"""The experiment list: progress against the commitments made at start, and a verdict."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from analytics.models import ArmDailyStats, RollupScope
from analytics.reports.experiment import days_running, srm_check
from analytics.reports.metrics import (
    Verdict,
    analyze_series,
    effect_verdict,
    guardrail,
    metric_users,
)
from analytics.selectors import ArmSeries
from experiments.models import Experiment


@dataclass
class ExperimentSummary:
    experiment: Experiment
    days_running: float
    exposed: int
    planned: int | None
    verdict: Verdict
    preliminary: bool
    srm_flagged: bool = False
    guardrail_alerts: list[str] = field(default_factory=list)

    @property
    def runtime_share(self) -> float:
        minimum = self.experiment.min_runtime_days or 1
        return min(self.days_running / minimum, 1.0)

    @property
    def sample_share(self) -> float | None:
        return None if not self.planned else min(self.exposed / self.planned, 1.0)


def _series_by_experiment(experiments: list[Experiment]) -> dict[int, dict[int, ArmSeries]]:
    """All arms' running sums for the current phase of each experiment, in one query."""
    phases = {e.id: e.current_phase for e in experiments}
    out: dict[int, dict[int, ArmSeries]] = defaultdict(dict)
    rows = (
        ArmDailyStats.objects.filter(scope=RollupScope.EXPERIMENT, scope_id__in=list(phases))
        .order_by("scope_id", "arm_id", "day")
        .values_list("scope_id", "phase", "arm_id", "day", "sums")
    )
    for experiment_id, phase, arm_id, day, sums in rows:
        if phase != phases[experiment_id]:
            continue
        arm = out[experiment_id].setdefault(arm_id, ArmSeries(arm_id))
        running = dict(arm.latest)
        for name, value in sums.items():
            running[name] = running.get(name, 0.0) + value
        arm.days.append(day)
        arm.cumulative.append(running)
        arm.daily_exposures.append(int(round(sums.get("n", 0.0))))
    return out


def _srm_flagged(experiment: Experiment, series: dict[int, ArmSeries]) -> bool:
    variants = list(experiment.variants.all())
    empty = ArmSeries(arm_id=0)
    exposures = {v.id: metric_users(series.get(v.id, empty).latest, "ctr") for v in variants}
    srm, _ = srm_check(variants, exposures, [float(v.weight) for v in variants])
    return bool(srm and srm.flagged)


def _guardrail_alerts(experiment: Experiment, series: dict[int, ArmSeries]) -> list[str]:
    """``"<variant>: <guardrail> <verdict>"`` for every guardrail that does not pass."""
    variants = list(experiment.variants.all())
    control = next((v for v in variants if v.is_control), None)
    if control is None or experiment.started_at is None:
        return []
    empty = ArmSeries(arm_id=0)
    alerts = []
    for variant in variants:
        if variant is control:
            continue
        for metric in experiment.guardrail_metrics.all():
            result = guardrail(
                metric.kind,
                metric.statistic,
                series.get(control.id, empty).latest,
                series.get(variant.id, empty).latest,
                margin=metric.noninferiority_margin,
                margin_is_relative=metric.margin_is_relative,
                higher_is_better=metric.higher_is_better,
                alpha=float(experiment.alpha),
            )
            if result.verdict.css == "bad":
                alerts.append(f"{variant.key}: {metric.name} {result.verdict.text}")
    return alerts


def _verdict(experiment: Experiment, series: dict[int, ArmSeries], *, srm_flagged: bool) -> Verdict:
    variants = sorted(experiment.variants.all(), key=lambda v: (not v.is_control, v.position))
    control = next((v for v in variants if v.is_control), None)
    metric = experiment.primary_metric
    if experiment.started_at is None:
        return Verdict("not started", "neutral")
    if control is None or metric is None:
        return Verdict("no control or primary metric", "warn")
    empty = ArmSeries(arm_id=0)
    verdicts = []
    for variant in variants:
        if variant is control:
            continue
        result = analyze_series(
            metric.kind,
            metric.statistic,
            series.get(control.id, empty),
            series.get(variant.id, empty),
            alpha=float(experiment.alpha),
            sequential=experiment.sequential_testing,
            planned_total=(experiment.planned_sample_size or 0) * len(variants) or None,
        )
        verdict = effect_verdict(
            result,
            higher_is_better=metric.higher_is_better,
            alpha=float(experiment.alpha),
            srm_flagged=srm_flagged,
        )
        verdicts.append((variant, verdict))
    for css in ("bad", "good"):
        for variant, verdict in verdicts:
            if verdict.css == css:
                if verdict.text.startswith("treatment"):
                    return Verdict(verdict.text.replace("treatment", variant.key, 1), css)
                return verdict
    return verdicts[0][1] if verdicts else Verdict("no treatment variant", "warn")


def experiment_summaries(
    now: datetime | None = None,
    *,
    statuses: tuple[str, ...] | None = None,
    keys: tuple[str, ...] | None = None,
) -> list[ExperimentSummary]:
    """Every experiment (or those in ``statuses``, or with ``keys``) with its progress, SRM
    and guardrail alerts, and the verdict on its primary metric."""
    now = now or timezone.now()
    queryset = Experiment.objects.all()
    if statuses is not None:
        queryset = queryset.filter(status__in=statuses)
    if keys is not None:
        queryset = queryset.filter(key__in=keys)
    experiments = list(
        queryset.select_related("primary_metric")
        .prefetch_related("variants", "guardrail_metrics")
        .order_by("-started_at", "key")
    )
    series = _series_by_experiment(experiments)
    out = []
    for experiment in experiments:
        arms = series.get(experiment.id, {})
        exposed = sum(int(round(arm.latest.get("n", 0.0))) for arm in arms.values())
        variants = len(experiment.variants.all())
        planned = (experiment.planned_sample_size or 0) * variants or None
        running = days_running(experiment, now)
        if experiment.is_interleaving:
            # Every user sees every variant (exposures sit on the control's row): no split
            # to check, no arms to compare; the preference is on the experiment's report.
            srm_flagged, alerts = False, []
            verdict = Verdict("interleaving: preference on the report", "neutral")
        else:
            srm_flagged = _srm_flagged(experiment, arms)
            alerts = _guardrail_alerts(experiment, arms)
            verdict = _verdict(experiment, arms, srm_flagged=srm_flagged)
        out.append(
            ExperimentSummary(
                experiment=experiment,
                days_running=running,
                exposed=exposed,
                planned=planned,
                verdict=verdict,
                preliminary=running < experiment.min_runtime_days,
                srm_flagged=srm_flagged,
                guardrail_alerts=alerts,
            )
        )
    return out
