"""``POST /api/v1/stats/sample-size`` and ``POST /api/v1/stats/analyze``.

Stateless: summary statistics in, results out. The library validates the numbers and raises
``ValueError("<argument>: <problem>")``; the views turn that into a 400 on that field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.stats_serializers import (
    AnalyzeRequestSerializer,
    AnalyzeResponseSerializer,
    SampleSizeRequestSerializer,
    SampleSizeResponseSerializer,
)
from analytics.stats import analyze_metric, argument_name, plan_experiment

# Library argument names that differ from request field names.
FIELD_OF_ARGUMENT = {"n_control": "mde", "sample_size": "daily_users"}


def validation_error(error: ValueError, fields: set[str]) -> ValidationError:
    """A 400 naming the request field behind a library ``ValueError`` (nested for a.b)."""
    name = argument_name(error) or "non_field_errors"
    name = FIELD_OF_ARGUMENT.get(name, name)
    message = str(error)
    head, _, tail = name.partition(".")
    if head not in fields:
        return ValidationError({"non_field_errors": [message]})
    return ValidationError({head: {tail: [message]}} if tail else {head: [message]})


def call_or_400(function: Callable[..., Any], fields: set[str], *args, **kwargs) -> Any:
    try:
        return function(*args, **kwargs)
    except ValueError as error:
        raise validation_error(error, fields) from None


class SampleSizeView(APIView):
    """Users per group, expected days and the power curve for a planned test."""

    @extend_schema(
        operation_id="stats_sample_size",
        request=SampleSizeRequestSerializer,
        responses={
            200: SampleSizeResponseSerializer,
            400: OpenApiResponse(description="invalid field (named in the body)"),
        },
        examples=[
            OpenApiExample(
                "CTR 5 %, +5 % relative",
                value={"baseline": 0.05, "mde": 0.05, "daily_users": 20000},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        params = SampleSizeRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        plan = call_or_400(plan_experiment, set(params.fields), **params.validated_data)
        return Response(SampleSizeResponseSerializer(plan).data)


class AnalyzeView(APIView):
    """Compare one treatment with control on one metric, from per-variant sums."""

    @extend_schema(
        operation_id="stats_analyze",
        request=AnalyzeRequestSerializer,
        responses={
            200: AnalyzeResponseSerializer,
            400: OpenApiResponse(description="invalid field (named in the body)"),
        },
        description=(
            "`kind`: `proportion` (n users, sum_x successes), `mean` (n, sum_x, sum_x2) or "
            "`ratio` (per user x = clicks, y = impressions: n, sum_x, sum_x2, sum_y, sum_y2, "
            "sum_xy; delta method). CUPED when both groups send sum_c, sum_c2, sum_xc. "
            "`sequential`: always-valid p-value and confidence sequence."
        ),
        examples=[
            OpenApiExample(
                "conversion",
                value={
                    "kind": "proportion",
                    "control": {"n": 10000, "sum_x": 1000},
                    "treatment": {"n": 10000, "sum_x": 1100},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        params = AnalyzeRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = call_or_400(analyze_metric, set(params.fields), **params.validated_data)
        return Response(AnalyzeResponseSerializer(result).data)
