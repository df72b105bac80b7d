"""Reads on experiments: preliminary results, traffic share, the power estimate, the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from experiments.models import AuditLogEntry, Experiment, Holdout

__all__ = [
    "PowerEstimate",
    "audit_log",
    "is_preliminary",
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

    def describe(self) -> str:
        text = (
            f"{self.per_variant:,} users per variant, {self.total:,} in all "
            f"({self.variants} variants)"
        )
        if self.runtime_days is None:
            return text + "; enter the daily traffic for a runtime estimate"
        return text + (
            f"; about {self.runtime_days} day(s) at {self.traffic_share:.1%} of the daily traffic"
        )


def power_estimate(
    experiment: Experiment, *, variants: int | None = None, holdout_share: float | None = None
) -> PowerEstimate:
    """Sample size per variant to detect ``mde_relative`` on ``baseline_rate`` with the test
    the report runs (two-sided pooled z-test of two proportions at ``alpha`` and ``power``, or,
    with sequential testing, the always-valid test: ``analytics.stats.plan_experiment``; each
    treatment is compared with the control), and the runtime
    ``ceil(total / (daily_traffic * share))``.

    Raises ``ValueError`` naming the field when the inputs admit no answer.
    """
    # Imported here: the stats package belongs to analytics, which imports this app.
    from analytics.stats import plan_experiment, runtime_days

    k = variants if variants is not None else max(experiment.variants.count(), 2)
    size = plan_experiment(
        baseline=experiment.baseline_rate,
        mde=experiment.mde_relative,
        alpha=experiment.alpha,
        power=experiment.power,
        sequential=experiment.sequential_testing,
        curve_points=2,
    ).sample_size
    per_variant = max(size.control, size.treatment)
    total = per_variant * k
    share = traffic_share(experiment, holdout_share)
    days = None
    if experiment.daily_traffic and share > 0:
        days = runtime_days(total, experiment.daily_traffic, share)
    return PowerEstimate(per_variant, k, total, share, days)


def audit_log(experiment: Experiment) -> QuerySet[AuditLogEntry]:
    """The experiment's audit entries, newest first."""
    return experiment.audit_entries.select_related("who").order_by("-when", "-id")
