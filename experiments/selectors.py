"""Reads on experiments: preliminary results, traffic share, the power estimate, the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from experiments.models import AuditLogEntry, Experiment, Holdout, MetricDefinition

__all__ = [
    "PowerEstimate",
    "audit_log",
    "is_preliminary",
    "plan_arguments",
    "power_estimate",
    "preliminary_until",
    "traffic_share",
]


def preliminary_until(experiment: Experiment) -> datetime | None:
    """When the committed minimum runtime ends: ``started_at + min_runtime_days`` (None if
    the experiment never started)."""
    if experiment.started_at is None:
        return None
    return experiment.started_at + timedelta(days=experiment.min_runtime_days)


def is_preliminary(experiment: Experiment, now: datetime | None = None) -> bool:
    """Results are preliminary until the minimum runtime has passed (or if never started)."""
    until = preliminary_until(experiment)
    return until is None or (now or timezone.now()) < until


def traffic_share(experiment: Experiment, holdout_share: float | None = None) -> float:
    """Share of all users who can enter: ``coverage * (layer_end - layer_start) * (1 - h)``
    with ``h`` the active holdout's share."""
    if holdout_share is None:
        holdout = Holdout.objects.filter(is_active=True).only("share").first()
        holdout_share = holdout.share if holdout is not None else 0.0
    layer_width = experiment.layer_end - experiment.layer_start if experiment.layer_id else 1.0
    return experiment.coverage * layer_width * (1.0 - holdout_share)


@dataclass(frozen=True)
class PowerEstimate:
    """Users needed per variant and, with the daily traffic, whole days to collect them."""

    per_variant: int
    variants: int
    total: int
    traffic_share: float
    runtime_days: int | None
    test: str = ""

    def describe(self) -> str:
        text = (
            f"{self.per_variant:,} users per variant, {self.total:,} in all "
            f"({self.variants} variants)"
        )
        if self.test:
            text += f", planned for the {self.test}"
        if self.runtime_days is None:
            return text + "; enter the daily traffic for a runtime estimate"
        return text + (
            f"; about {self.runtime_days} day(s) at {self.traffic_share:.1%} of the daily traffic"
        )


def plan_arguments(experiment: Experiment) -> dict[str, Any]:
    """``plan_experiment`` arguments for the test the report will run on the primary metric.

    Its options make the plan: a one-sided metric is planned one-sided (towards its better
    direction, the MDE signed alike); a mean, winsorised mean or quantile metric whose
    ``planning_log_sd`` is set is planned on log-normal per-user values with that log-scale
    sd (scale-free with the relative MDE: the baseline is the unit), capped at its
    ``winsorize_percentile`` or at its ``quantile_level``. Other metrics, and those without a
    planning distribution, are planned as a rate from ``baseline_rate``; a quantile metric
    has no rate and needs its distribution (``ValueError`` naming ``planning_log_sd``).
    """
    arguments: dict[str, Any] = {
        "mde": experiment.mde_relative,
        "alpha": experiment.alpha,
        "power": experiment.power,
        "sequential": experiment.sequential_testing,
        "curve_points": 2,
    }
    metric = experiment.primary_metric
    if metric is None:
        return {**arguments, "baseline": experiment.baseline_rate}
    arguments["alternative"] = metric.alternative
    if metric.alternative == "smaller":  # the better direction is a fall
        arguments["mde"] = -abs(experiment.mde_relative)
    statistic = MetricDefinition.STATISTIC_OF_KIND[metric.kind]
    sd = metric.planning_log_sd
    if statistic == MetricDefinition.Statistic.QUANTILE:
        if sd is None:
            raise ValueError(
                f"planning_log_sd: the primary metric {metric.key!r} is a quantile; set its "
                "planning log-scale sd to plan it"
            )
        return {**arguments, "metric": "quantile", "quantile": metric.quantile_level,
                "lognormal_sigma": sd}  # fmt: skip
    if statistic == MetricDefinition.Statistic.MEAN and sd is not None:
        return {**arguments, "metric": "mean", "baseline": 1.0, "lognormal_sigma": sd,
                "winsorize_percentile": metric.winsorize_percentile}  # fmt: skip
    return {**arguments, "baseline": experiment.baseline_rate}


def power_estimate(
    experiment: Experiment, *, variants: int | None = None, holdout_share: float | None = None
) -> PowerEstimate:
    """Sample size per variant to detect ``mde_relative`` with the test the report runs on
    the primary metric (``plan_arguments``: by default the two-sided pooled z-test of two
    proportions on ``baseline_rate`` at ``alpha`` and ``power``; one-sided, winsorised or a
    quantile as the metric's options say; with sequential testing the always-valid test:
    ``analytics.stats.plan_experiment``; each treatment is compared with the control), and
    the runtime ``ceil(total / (daily_traffic * share))``.

    Raises ``ValueError`` naming the field when the inputs admit no answer.
    """
    # Imported here: the stats package belongs to analytics, which imports this app.
    from analytics.stats import plan_experiment, runtime_days

    k = variants if variants is not None else max(experiment.variants.count(), 2)
    plan = plan_experiment(**plan_arguments(experiment))
    size = plan.sample_size
    per_variant = max(size.control, size.treatment)
    total = per_variant * k
    share = traffic_share(experiment, holdout_share)
    days = None
    if experiment.daily_traffic and share > 0:
        days = runtime_days(total, experiment.daily_traffic, share)
    return PowerEstimate(per_variant, k, total, share, days, plan.test)


def audit_log(experiment: Experiment) -> QuerySet[AuditLogEntry]:
    """The experiment's audit entries, newest first."""
    return experiment.audit_entries.select_related("who").order_by("-when", "-id")
