"""Report pages for staff: experiment list, experiment report, CSV export, holdout, and each
chart's plotted data as CSV."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render

from accounts.decorators import analyst_required
from analytics.reports.chart_tables import (
    Table,
    effect_table,
    exposure_table,
    holdout_table,
    preference_table,
    table_csv,
)
from analytics.reports.experiment import build_experiment_report
from analytics.reports.export import report_csv
from analytics.reports.holdout import build_holdout_report
from analytics.reports.interleaving import build_interleaving_report
from analytics.reports.listing import experiment_summaries
from analytics.reports.segments import (
    SegmentBreakdown,
    build_segment_breakdown,
    segment_attributes_of,
)
from experiments.models import Experiment


def _phase(request: HttpRequest, experiment: Experiment) -> int | None:
    """The ``?phase=`` asked for (default: current); raises ``ValueError`` when malformed."""
    raw = request.GET.get("phase")
    if raw in (None, ""):
        return experiment.current_phase
    try:
        phase = int(raw)
    except ValueError:
        raise ValueError(f"phase: must be a whole number, got {raw!r}") from None
    if phase < 1 or phase > experiment.current_phase:
        raise ValueError(f"phase: must be between 1 and {experiment.current_phase}")
    return phase


def _experiment(key: str) -> Experiment:
    return get_object_or_404(
        Experiment.objects.select_related("primary_metric").prefetch_related(
            "variants", "phases", "guardrail_metrics", "secondary_metrics"
        ),
        key=key,
    )


@analyst_required
def report_list(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/reports/list.html", {"rows": experiment_summaries()})


@analyst_required
def experiment_report(request: HttpRequest, key: str) -> HttpResponse:
    experiment = _experiment(key)
    if experiment.is_interleaving:
        report = build_interleaving_report(experiment)
        return render(request, "analytics/reports/interleaving.html", {"report": report})
    try:
        phase = _phase(request, experiment)
        segments = _segments(request, experiment, phase)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    report = build_experiment_report(experiment, phase=phase)
    context = {
        "report": report,
        "phases": range(1, experiment.current_phase + 1),
        "segment_attributes": segment_attributes_of(experiment),
        "segments": segments,
    }
    return render(request, "analytics/reports/experiment.html", context)


def _segments(request: HttpRequest, experiment: Experiment, phase: int) -> SegmentBreakdown | None:
    """The breakdown asked for by ``?segment=`` (computed only then: it reads every exposed
    user's rollup rows); raises ``ValueError`` naming a bad one."""
    attribute = request.GET.get("segment")
    if not attribute:
        return None
    return build_segment_breakdown(experiment, attribute, phase=phase)


@analyst_required
def experiment_report_csv(request: HttpRequest, key: str) -> HttpResponse:
    experiment = _experiment(key)
    try:
        phase = _phase(request, experiment)
        segments = _segments(request, experiment, phase)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    body = report_csv(build_experiment_report(experiment, phase=phase), segments)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{key}-phase{phase}.csv"'
    return response


@analyst_required
def holdout_report(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/reports/holdout.html", {"report": build_holdout_report()})


AB_CHARTS = {"effect": effect_table, "exposures": exposure_table}


def _csv_response(table: Table, filename: str) -> HttpResponse:
    response = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@analyst_required
def experiment_chart_csv(request: HttpRequest, key: str, chart: str) -> HttpResponse:
    """One chart's plotted series: ``effect`` or ``exposures`` of an A/B report (``?phase=``),
    ``preference`` of an interleaving report."""
    experiment = _experiment(key)
    if experiment.is_interleaving:
        if chart != "preference":
            raise Http404(f"an interleaving report has no chart {chart!r} (it has: preference)")
        table = preference_table(build_interleaving_report(experiment).chart)
        return _csv_response(table, f"{key}-preference.csv")
    if chart not in AB_CHARTS:
        raise Http404(f"the report has no chart {chart!r} (it has: {', '.join(AB_CHARTS)})")
    try:
        phase = _phase(request, experiment)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    report = build_experiment_report(experiment, phase=phase)
    return _csv_response(AB_CHARTS[chart](report.chart), f"{key}-{chart}-phase{phase}.csv")


@analyst_required
def holdout_chart_csv(request: HttpRequest, metric: str) -> HttpResponse:
    """The holdout chart of one metric (by key)."""
    lines = {line["key"]: line for line in build_holdout_report().chart["lines"]}
    if metric not in lines:
        raise Http404(f"no holdout chart for metric {metric!r} (charts: {', '.join(lines)})")
    return _csv_response(holdout_table(lines[metric]), f"holdout-{metric}.csv")
