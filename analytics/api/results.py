"""``GET /api/v1/experiments/<key>/results``: the report page's content as JSON.

Built by the page's own builder (:func:`build_experiment_report`) and converted generically
(:func:`report_to_json`): every dataclass field and property of the report, its metric rows,
their series, analyses, guardrail results and verdicts, so a number shown on the page is in
the JSON under the same name, and a field added to the builder appears without a change here.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime
from typing import Any

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.reports.experiment import build_experiment_report
from analytics.reports.segments import build_segment_breakdown, segment_attributes_of
from experiments.models import Experiment

__all__ = ["ExperimentResultsView", "report_to_json"]

# Properties that repeat fields (rows = primary + guardrails + secondary) or need the page's
# pairing of objects (exposure_rows); the JSON has their content elsewhere.
_SKIPPED_PROPERTIES = {"rows", "exposure_rows"}
_MAX_DEPTH = 12


def _model_ref(instance: models.Model) -> Any:
    for name in ("key", "name"):
        if hasattr(instance, name):
            return getattr(instance, name)
    return instance.pk


def _properties(value: Any) -> dict[str, Any]:
    names = [
        name
        for klass in type(value).__mro__
        for name, attribute in vars(klass).items()
        if isinstance(attribute, property)
        and not name.startswith("_")
        and name not in _SKIPPED_PROPERTIES
    ]
    return {name: getattr(value, name) for name in dict.fromkeys(names)}


def to_json(value: Any, depth: int = 0) -> Any:
    """JSON of a report value: dataclasses as objects (fields and properties), models as
    their key, non-finite floats as null, dates as ISO text, numpy values as Python's."""
    if depth > _MAX_DEPTH:
        return None
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, models.Model):
        return _model_ref(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        out.update(_properties(value))
        return {name: to_json(item, depth + 1) for name, item in out.items()}
    if isinstance(value, dict):
        return {
            str(_model_ref(k) if isinstance(k, models.Model) else k): to_json(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item, depth + 1) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return to_json(value.tolist(), depth + 1)
    return str(value)


def report_to_json(report: Any) -> dict[str, Any]:
    """The report as JSON, with exposures keyed by variant key instead of database id."""
    body = to_json(report)
    by_id = {variant.id: variant.key for variant in report.variants}
    body["exposures"] = {by_id.get(k, str(k)): n for k, n in report.exposures.items()}
    return body


class ExperimentResultsView(APIView):
    """What the report page shows: SRM, each metric's effect, interval, p-value, verdict,
    the preliminary flag, and with ``?segment=`` one segment breakdown (scope ``analyze``)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("phase", OpenApiTypes.INT, description="default: the current one"),
            OpenApiParameter(
                "segment",
                OpenApiTypes.STR,
                description="a segment attribute (one of segment_attributes): adds "
                "'segments', the exploratory breakdown by its values (SRM and the primary and "
                "guardrail metrics per value, p-values Holm-corrected for their number)",
            ),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiResponse(description="bad phase or segment (named)"),
            404: OpenApiResponse(description="no experiment with this key"),
        },
        summary="Experiment results, as on the report page",
    )
    def get(self, request: Request, key: str) -> Response:
        experiment = (
            Experiment.objects.select_related("primary_metric")
            .prefetch_related("variants", "phases", "guardrail_metrics", "secondary_metrics")
            .filter(key=key)
            .first()
        )
        if experiment is None:
            raise NotFound({"key": [f"no experiment {key!r}"]})
        phase = request.query_params.get("phase")
        valid = phase is None or (phase.isdigit() and 1 <= int(phase) <= experiment.current_phase)
        if not valid:
            raise ValidationError(
                {"phase": [f"expected a phase from 1 to {experiment.current_phase}"]}
            )
        phase_number = int(phase) if phase else experiment.current_phase
        body = report_to_json(build_experiment_report(experiment, phase=phase_number))
        body["segment_attributes"] = segment_attributes_of(experiment)
        attribute = request.query_params.get("segment")
        if attribute:
            try:
                breakdown = build_segment_breakdown(experiment, attribute, phase=phase_number)
            except ValueError as error:
                raise ValidationError({"segment": [str(error).removeprefix("segment: ")]}) from None
            body["segments"] = to_json(breakdown)
        return Response(body)
