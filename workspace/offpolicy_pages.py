"""Off-policy evaluation pages (staff): a candidate's estimated CTR against production's on
the logged lists, and the served lists with their propensities as CSV.

Mounted at ``/reports/offpolicy/estimate/`` and ``/reports/offpolicy/served.csv``: the
analytics pages' ``/reports/<key>/`` takes every one-segment path under ``/reports/``.
The logic is ``recommenders.selectors.offpolicy`` (as ``manage.py evaluate_offpolicy``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render

from recommenders.models import RecommenderConfig
from recommenders.selectors.offpolicy import (
    OffPolicyInputError,
    OffPolicyReport,
    evaluate_candidate,
    parse_window,
)
from recommenders.selectors.served_export import served_lists_csv

# A page answers within a request: ~3 ms per logged list (the candidate's ranking), so a
# larger window is for ``manage.py evaluate_offpolicy`` (the page says how many it left out).
PAGE_MAX_LISTS = 20_000
# PI estimates a Gram matrix and its pseudo-inverse per ranked pool (~0.1 s each for a pool
# of 50 and lists of 10): the page uses fewer pools than the command.
PAGE_PI_MAX_CONTEXTS = 40


def _clip(raw: str) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise OffPolicyInputError(f"clip: must be a number greater than 0, got {raw!r}")
    return value


def _experiment_link(report: OffPolicyReport) -> str:
    """``/experiments/new/`` prefilled: production (the default configuration) against the
    candidate, on the evaluated surface."""
    candidate = RecommenderConfig.objects.get(name=report.candidate)
    production = RecommenderConfig.objects.filter(is_default=True).first()
    fields = {
        "key": f"{report.candidate}-ab"[:100],
        "name": f"{report.candidate} against production (after off-policy evaluation)",
        "variant_1_config": candidate.pk,
    }
    if production is not None:
        fields["variant_0_config"] = production.pk
    if report.surface:
        fields["surface"] = report.surface
    return f"/experiments/new/?{urlencode(fields)}"


@staff_member_required
def offpolicy_estimate(request: HttpRequest) -> HttpResponse:
    """The form; with ``candidate`` and ``since``, the estimates (400 naming the problem)."""
    query = request.GET
    context: dict[str, object] = {
        "configs": RecommenderConfig.objects.order_by("name").values_list("name", flat=True),
        "query": query,
    }
    status = 200
    if query.get("candidate") or query.get("since"):
        try:
            since, until = parse_window(query.get("since", ""), query.get("until") or None)
            report = evaluate_candidate(
                query.get("candidate", ""), since, until, query.get("surface", ""),
                _clip(query.get("clip", "")), max_lists=PAGE_MAX_LISTS,
                pi_max_contexts=PAGE_PI_MAX_CONTEXTS,
            )  # fmt: skip
        except OffPolicyInputError as error:
            context["error"], status = str(error), 400
        else:
            context["report"] = report
            context["rows"] = [report.production, *report.estimates]
            context["experiment_link"] = _experiment_link(report)
    return render(request, "workspace/offpolicy.html", context, status=status)


@staff_member_required
def served_lists_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The window's served lists with propensities and clicks (``?since=&until=&surface=``)."""
    try:
        since, until = parse_window(request.GET.get("since", ""), request.GET.get("until"))
    except OffPolicyInputError as error:
        return HttpResponseBadRequest(str(error))
    body = served_lists_csv(since, until, request.GET.get("surface", ""))
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="served-{since:%Y%m%d}.csv"'
    return response
