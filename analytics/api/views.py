"""Views of the analytics API (mounted under /api/v1/).

``POST /api/v1/events``: validate, write, answer; nothing else on this path.

``POST /api/v1/stats/sample-size`` and ``POST /api/v1/stats/analyze``: stateless, summary
statistics in, results out. The library validates the numbers and raises
``ValueError("<argument>: <problem>")``; the views turn that into a 400 on that field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import (
    AnalyzeRequestSerializer,
    AnalyzeResponseSerializer,
    EventBatchSerializer,
    IngestResultSerializer,
    SampleSizeRequestSerializer,
    SampleSizeResponseSerializer,
)
from analytics.services import MAX_BATCH_SIZE, do_ingest_events
from analytics.stats import analyze_metric, argument_name, plan_experiment
from web.parsers import json_from_body

# Library argument names that differ from request field names.
FIELD_OF_ARGUMENT = {
    "n_control": "mde",
    "sample_size": "daily_users",
    "percentile": "winsorize_percentile",
}


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


# --- events ----------------------------------------------------------------------------------


class WholeBodyJSONParser(JSONParser):
    """DRF's JSON parser, reading the body in one piece (batches run to megabytes).

    DRF decodes through a codec stream reader, several times slower on a 2 MB body than one
    ``json.loads`` of the bytes.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        # Also a 400: nesting past the recursion limit, unpaired surrogates (see json_from_body).
        return json_from_body(raw, json.detect_encoding(raw), constants=True)


def events_from_body(data: object) -> list:
    """The list of events in a body: ``{"events": [...]}``, a bare list, or one event."""
    if isinstance(data, dict) and "events" in data:
        events = data["events"]
        if not isinstance(events, list):
            raise ValidationError({"events": ["must be a list of event objects"]})
    elif isinstance(data, list):
        events = data
    elif isinstance(data, dict):
        events = [data]
    else:
        raise ValidationError({"events": ["body must be an event object or a list of events"]})
    if not events:
        raise ValidationError({"events": ["must hold at least one event"]})
    if len(events) > MAX_BATCH_SIZE:
        raise ValidationError(
            {"events": [f"batch of {len(events)} is over the limit of {MAX_BATCH_SIZE} events"]}
        )
    return events


# A 400 is either the batch's result (every event rejected, each with its reasons) or an
# error naming what is wrong with the body itself.
INGEST_REFUSED = {
    "anyOf": [
        {"$ref": "#/components/schemas/IngestResult"},
        {
            "type": "object",
            "properties": {
                "events": {"type": "array", "items": {"type": "string"}},
                "detail": {"type": "string"},
            },
            "minProperties": 1,
            "additionalProperties": False,
        },
    ]
}


class EventIngestView(APIView):
    """Report what users did, one event or a batch of up to 10,000."""

    parser_classes = [WholeBodyJSONParser]

    @extend_schema(
        request=EventBatchSerializer,
        responses={200: IngestResultSerializer, 400: INGEST_REFUSED},
        description=(
            "Valid events are stored and invalid ones are listed in `rejected` with their "
            "index and the reason per field; the answer is 400 only when nothing could be "
            "accepted. Sending an `event_id` again stores nothing and counts as a duplicate "
            "(a success). A body that is not a batch at all (not JSON, `events` not a list, "
            'an empty or oversized batch) is a 400 naming the problem: `{"events": [...]}` '
            'or `{"detail": ...}`.'
        ),
        examples=[
            OpenApiExample(
                "click",
                value={
                    "events": [
                        {
                            "event_id": "e-1",
                            "type": "click",
                            "user_id": "u-1",
                            "timestamp": "2025-01-31T12:00:00Z",
                            "request_id": "r-1",
                            "item_id": "i-9",
                            "position": 2,
                        }
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        result = do_ingest_events(events_from_body(request.data))
        body = IngestResultSerializer(result).data
        ok = result.accepted > 0
        return Response(body, status=status.HTTP_200_OK if ok else status.HTTP_400_BAD_REQUEST)
