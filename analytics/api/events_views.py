"""``POST /api/v1/events``: validate, write, answer; nothing else on this path."""

from __future__ import annotations

import json

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.events_serializers import EventBatchSerializer, IngestResultSerializer
from analytics.services import MAX_BATCH_SIZE, do_ingest_events
from config.parsers import json_from_body


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
            raise ValidationError({"events": "must be a list of event objects"})
    elif isinstance(data, list):
        events = data
    elif isinstance(data, dict):
        events = [data]
    else:
        raise ValidationError({"events": "body must be an event object or a list of events"})
    if not events:
        raise ValidationError({"events": "must hold at least one event"})
    if len(events) > MAX_BATCH_SIZE:
        raise ValidationError(
            {"events": f"batch of {len(events)} is over the limit of {MAX_BATCH_SIZE} events"}
        )
    return events


class EventIngestView(APIView):
    """Report what users did, one event or a batch of up to 10,000."""

    parser_classes = [WholeBodyJSONParser]

    @extend_schema(
        request=EventBatchSerializer,
        responses={200: IngestResultSerializer, 400: IngestResultSerializer},
        description=(
            "Valid events are stored and invalid ones are listed in `rejected` with their "
            "index and the reason per field; the answer is 400 only when nothing could be "
            "accepted. Sending an `event_id` again stores nothing and counts as a duplicate "
            "(a success)."
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
