"""GrowthBook SDKs as clients: the features payload of a surface, and their exposures.

``GET /api/features/<client_key>``: the path GrowthBook's SDKs fetch (``{apiHost}/api/features
/{clientKey}``), without credentials like GrowthBook's own endpoint: the client key is the
surface's name and the payload holds only what the SDK needs to hash (seeds, ranges,
conditions). ETag and ``If-None-Match`` give 304 while nothing changed.

``POST /api/v1/exposures`` (scope ``serve``): what the SDK's ``trackingCallback`` sends. The
server recomputes the assignment with the same engine and records the exposure through the
same buffer as server-side assignments, so an exposure seen by both is stored once (one row
per experiment, phase and user).
"""

from __future__ import annotations

import hashlib
import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assignment import services
from assignment.api.serializers import AttributesField, check_user_id
from assignment.config_cache import get_snapshot
from assignment.growthbook import UnsupportedForSdk, sdk_payload
from assignment.models import USER_ID_MAX_LENGTH
from web.serializers import StrictCharField

__all__ = ["ExposureTrackingView", "FeaturesView"]


class FeaturesView(APIView):
    """The running experiments of a surface in GrowthBook's SDK payload format."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    required_scopes = frozenset()

    @extend_schema(
        responses={
            200: OpenApiTypes.OBJECT,
            304: OpenApiResponse(description="unchanged since the ETag sent in If-None-Match"),
            404: OpenApiResponse(description="no experiment on this surface (client key)"),
            409: OpenApiResponse(description="an experiment's targeting cannot be expressed"),
        },
        summary="GrowthBook SDK payload of a surface (client key = surface name)",
        auth=[],
    )
    def get(self, request: Request, client_key: str) -> Response:
        snapshot = get_snapshot()
        on_surface = [e for e in snapshot.experiments.values() if e.surface == client_key]
        if not on_surface:
            surfaces = sorted({e.surface for e in snapshot.experiments.values() if e.surface})
            raise NotFound(
                {
                    "client_key": [
                        f"no surface {client_key!r}: the client key is a surface name "
                        f"(surfaces with experiments: {', '.join(surfaces) or 'none'})"
                    ]
                }
            )
        try:
            payload = sdk_payload(on_surface, snapshot.holdout)
        except UnsupportedForSdk as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in request.headers.get("If-None-Match", ""):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(payload, headers=headers)


class ExposureSerializer(serializers.Serializer):
    # Ids as sent: DRF would strip a leading or trailing whitespace character (and refuse an
    # id that is only one) where the assignment API takes the id verbatim.
    user_id = StrictCharField(
        max_length=USER_ID_MAX_LENGTH,
        trim_whitespace=False,
        help_text="the SDK's `id` attribute",
    )
    experiment = StrictCharField(
        max_length=100, trim_whitespace=False, help_text="`experiment.key` in the tracking callback"
    )
    variant = StrictCharField(
        max_length=100, trim_whitespace=False, help_text="`result.value` (the variant key)"
    )
    attributes = AttributesField(required=False, default=dict)

    def validate_user_id(self, value: str) -> str:
        return check_user_id(value, "user_id")


class ExposureResultSerializer(serializers.Serializer):
    experiment = serializers.CharField()
    variant = serializers.CharField()
    phase = serializers.IntegerField()
    recorded = serializers.BooleanField()


class ExposureTrackingView(APIView):
    """An exposure reported by a GrowthBook SDK's tracking callback."""

    @extend_schema(
        request=ExposureSerializer,
        responses={
            200: ExposureResultSerializer,
            400: OpenApiResponse(description="invalid field (named)"),
            404: OpenApiResponse(description="unknown experiment"),
            409: OpenApiResponse(description="the server assigns this user otherwise (named)"),
        },
        summary="Record an exposure from an SDK's tracking callback (scope: serve)",
    )
    def post(self, request: Request) -> Response:
        params = ExposureSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        key = data["experiment"]
        try:
            # Computed without logging: the exposure is recorded only if the SDK agrees.
            (result,) = services.assign_user(
                data["user_id"], data["attributes"], [key], log_exposure=False
            )
        except services.UnknownExperimentError:
            raise NotFound({"experiment": [f"unknown experiment key {key!r}"]}) from None
        except services.SegmentError as error:
            raise ValidationError({error.field: [str(error)]}) from None
        if result.reason != "assigned" or result.variant != data["variant"]:
            conflict = ValidationError(
                {
                    "variant": [
                        f"the server assigns user {data['user_id']!r} in {key!r} to "
                        f"{result.variant!r} ({result.reason}), not {data['variant']!r}; "
                        "send the user's targeting attributes and use the current payload"
                    ]
                }
            )
            conflict.status_code = status.HTTP_409_CONFLICT
            raise conflict
        services.assign_user(data["user_id"], data["attributes"], [key], log_exposure=True)
        return Response(
            ExposureResultSerializer(
                {
                    "experiment": key,
                    "variant": result.variant,
                    "phase": result.phase,
                    "recorded": True,
                }
            ).data
        )
