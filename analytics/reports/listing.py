"""The experiment list: progress against the commitments made at start, alerts, and the
report's own verdict and decision (``analyze_arms``: the same analysis as the report page)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Model
from django.utils import timezone

from analytics.reports.decision import Decision
from analytics.reports.experiment import ArmAnalysis, analyze_arms, at_time, days_running
from analytics.reports.metrics import Verdict
from analytics.selectors import current_phase_series, rollup_state
from experiments.models import Experiment

# The lists' analyses of the latest rollup, per process: (experiment, phase, rollup run,
# configuration) -> (users exposed, the analysis or None). Nothing an analysis reads changes
# until the next rollup run or a change of the configuration, both in the key, and what
# changes with the clock is recomputed on every view (``at_time``).
MEMO_LIMIT = 1024
_memo: OrderedDict[tuple, tuple[int, ArmAnalysis | None]] = OrderedDict()
_memo_lock = threading.Lock()


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
    decision: Decision | None = None

    @property
    def runtime_share(self) -> float:
        minimum = self.experiment.min_runtime_days or 1
        return min(self.days_running / minimum, 1.0)

    @property
    def sample_share(self) -> float | None:
        return None if not self.planned else min(self.exposed / self.planned, 1.0)


def _verdict(arms: ArmAnalysis) -> Verdict:
    """The primary metric's verdict to show in a list: a bad arm first, then a good one."""
    if not arms.primary:
        return Verdict("no control or primary metric", "warn")
    for css in ("bad", "good"):
        for row in arms.primary:
            if row.verdict.css == css:
                text = row.verdict.text
                if text.startswith("treatment"):
                    text = text.replace("treatment", row.variant.key, 1)
                return Verdict(text, css)
    return arms.primary[0].verdict


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
        .prefetch_related("variants", "guardrail_metrics", "phases")
        .order_by("-started_at", "key")
    )
    state = rollup_state()
    runs = state.runs if state else 0
    keys_of = {e.id: (e.id, e.current_phase, runs, _configuration(e)) for e in experiments}
    with _memo_lock:
        known = {e.id: _memo[keys_of[e.id]] for e in experiments if keys_of[e.id] in _memo}
    missing = [e for e in experiments if e.id not in known]
    series = current_phase_series({e.id: e.current_phase for e in missing})
    for experiment in missing:
        known[experiment.id] = _analysed(experiment, series.get(experiment.id, {}), now)
    with _memo_lock:
        for experiment in missing:
            _memo[keys_of[experiment.id]] = known[experiment.id]
        while len(_memo) > MEMO_LIMIT:
            _memo.popitem(last=False)
    out = []
    for experiment in experiments:
        exposed, analysis = known[experiment.id]
        variants = len(experiment.variants.all())
        planned = (experiment.planned_sample_size or 0) * variants or None
        if experiment.started_at is None:
            out.append(ExperimentSummary(experiment, 0.0, exposed, planned,
                                         Verdict("not started", "neutral"), False))  # fmt: skip
            continue
        if analysis is None:
            # Interleaving: every user sees every variant (exposures sit on the control's
            # row), no split to check, no arms to compare; the preference is on its report.
            running = days_running(experiment, now)
            out.append(ExperimentSummary(
                experiment, running, exposed, planned,
                Verdict("interleaving: preference on the report", "neutral"),
                running < experiment.min_runtime_days,
            ))  # fmt: skip
            continue
        analysis = at_time(analysis, experiment, now)
        out.append(
            ExperimentSummary(
                experiment=experiment,
                days_running=analysis.days_running,
                exposed=exposed,
                planned=planned,
                verdict=_verdict(analysis),
                preliminary=analysis.preliminary,
                srm_flagged=bool(analysis.srm and analysis.srm.flagged),
                guardrail_alerts=[
                    f"{row.variant.key}: {row.metric.name} {row.verdict.text}"
                    for row in analysis.guardrails
                    if row.verdict.css == "bad"
                ],
                decision=analysis.decision,
            )
        )
    return out


def _analysed(experiment: Experiment, arms: dict, now: datetime) -> tuple[int, ArmAnalysis | None]:
    """Users exposed, and the report's analysis of the latest day (None where the list shows
    no verdict from the arms: not started, or interleaving)."""
    exposed = sum(int(round(arm.latest.get("n", 0.0))) for arm in arms.values())
    if experiment.started_at is None or experiment.is_interleaving:
        return exposed, None
    # the list shows the latest verdict only: no daily series to chart (see analyze_series)
    analysis = analyze_arms(
        experiment, experiment.current_phase, arms, now=now, with_secondary=False,
        latest_only=True,
    )  # fmt: skip
    return exposed, analysis


def _configuration(experiment: Experiment) -> str:
    """Every stored field that the list's analysis reads, of the experiment and of its
    prefetched variants, phases and metrics: any change to one of them is a new memo key."""
    objects: list[Model] = [
        experiment,
        *experiment.variants.all(),
        *experiment.phases.all(),
        *experiment.guardrail_metrics.all(),
    ]
    if experiment.primary_metric is not None:
        objects.append(experiment.primary_metric)
    return repr([
        (type(o).__name__, [getattr(o, f.attname) for f in o._meta.concrete_fields])
        for o in objects
    ])  # fmt: skip


def clear_memo() -> None:
    with _memo_lock:
        _memo.clear()
