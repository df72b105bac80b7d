"""Reads for the workspace pages: the home page's rows and one experiment's whole picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics.reports.listing import ExperimentSummary, experiment_summaries
from experiments import selectors as experiment_selectors
from experiments.audit import describe
from experiments.models import Experiment, ExperimentPhase

Status = Experiment.Status

# What each lifecycle action does, shown on its confirmation step.
ACTIONS: dict[str, dict[str, Any]] = {
    "start": {
        "from": (Status.DRAFT,),
        "label": "Start",
        "effect": "Opens phase 1 with the current split and seed: from now on users are "
        "assigned and exposures are recorded. The key and the minimum runtime are fixed.",
    },
    "pause": {
        "from": (Status.RUNNING,),
        "label": "Pause",
        "effect": "Nobody is assigned while paused (everyone sees control); the phase stays "
        "open and exposures already recorded stay in the analysis.",
    },
    "resume": {
        "from": (Status.PAUSED,),
        "label": "Resume",
        "effect": "Assignment starts again in the same phase with the same seed: users get the "
        "variant they had before.",
    },
    "stop": {
        "from": (Status.RUNNING, Status.PAUSED),
        "label": "Stop",
        "effect": "Closes the current phase: no more users are assigned or exposed. The report "
        "keeps every phase.",
    },
    "conclude": {
        "from": (Status.STOPPED,),
        "label": "Conclude",
        "effect": "Marks the results final and releases the experiment's layer range. Before "
        "the minimum runtime this needs a reason, recorded in the audit log.",
    },
}


def home_rows() -> dict[str, list[ExperimentSummary]]:
    """Experiments in flight (running, paused) with their alerts, and drafts to start."""
    rows = experiment_summaries(statuses=(Status.RUNNING, Status.PAUSED, Status.DRAFT))
    return {
        "active": [r for r in rows if r.experiment.status != Status.DRAFT],
        "drafts": [r for r in rows if r.experiment.status == Status.DRAFT],
    }


@dataclass
class TimelineEntry:
    when: Any
    sentence: str


@dataclass
class PhaseSpan:
    phase: ExperimentPhase
    events: list[TimelineEntry]  # pauses and resumes inside the phase


@dataclass
class Workspace:
    experiment: Experiment
    summary: ExperimentSummary | None
    phases: list[PhaseSpan]
    history: list[TimelineEntry]
    plan: str
    plan_warning: str
    actions: list[tuple[str, dict[str, Any]]]
    split: list[tuple[str, float, float]]  # variant key, start and width in % of entrants


def experiment_workspace(key: str) -> Workspace:
    """Everything the experiment page shows; raises ``Experiment.DoesNotExist``."""
    experiment = (
        Experiment.objects.select_related("primary_metric", "layer", "owner")
        .prefetch_related(
            "variants__recommender_config", "phases", "guardrail_metrics", "secondary_metrics"
        )
        .get(key=key)
    )
    summaries = experiment_summaries(keys=(experiment.key,))
    summary = summaries[0] if summaries else None
    plan, plan_warning = _plan(experiment)
    entries = list(experiment_selectors.audit_log(experiment)[:100])
    history = [TimelineEntry(entry.when, describe(entry)) for entry in entries]
    actions = [(name, spec) for name, spec in ACTIONS.items() if experiment.status in spec["from"]]
    return Workspace(
        experiment=experiment,
        summary=summary,
        phases=phase_spans(list(experiment.phases.all()), entries),
        history=history,
        plan=plan,
        plan_warning=plan_warning,
        actions=actions,
        # every user of an interleaving experiment sees the merged list: there is no split
        split=[] if experiment.is_interleaving else split_preview(experiment),
    )


def _plan(experiment: Experiment) -> tuple[str, str]:
    """The required size in words, and a warning when the plan falls short of it; nothing
    for an interleaving experiment, which the A/B power plan does not describe."""
    if experiment.is_interleaving:
        return "", ""
    plan_warning = ""
    try:
        estimate = experiment_selectors.power_estimate(experiment)
        plan = estimate.describe()
        planned = experiment.planned_sample_size
        if planned and planned < estimate.per_variant:
            plan_warning = (
                f"the plan of {planned:,} users per variant is below the {estimate.per_variant:,} "
                "required: the experiment would stop underpowered for its MDE"
            )
    except ValueError as error:
        plan = f"not available: {error}"
    return plan, plan_warning


def phase_spans(phases: list[ExperimentPhase], entries: list[Any]) -> list[PhaseSpan]:
    """Each phase with the pauses and resumes that happened while it was open."""
    pauses = sorted(
        (e for e in entries if e.action in ("pause", "resume")), key=lambda e: (e.when, e.id)
    )
    spans = []
    for phase in phases:
        inside = [
            TimelineEntry(e.when, "paused" if e.action == "pause" else "resumed")
            for e in pauses
            if e.when >= phase.started_at and (phase.ended_at is None or e.when <= phase.ended_at)
        ]
        spans.append(PhaseSpan(phase, inside))
    return spans


def split_preview(experiment: Experiment) -> list[tuple[str, float, float]]:
    """Each variant's share of the users who enter, as (key, start %, width %)."""
    variants = list(experiment.variants.all())
    total = sum(max(float(v.weight), 0.0) for v in variants)
    out, start = [], 0.0
    for variant in variants:
        width = 100.0 * max(float(variant.weight), 0.0) / total if total > 0 else 0.0
        out.append((variant.key, round(start, 3), round(width, 3)))
        start += width
    return out
