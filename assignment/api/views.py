"""``POST /api/v1/assignments`` and ``POST /api/v1/assignments/batch``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assignment import services
from assignment.api.serializers import (
    AssignmentRequestSerializer,
    AssignmentResponseSerializer,
    BatchAssignmentRequestSerializer,
    BatchAssignmentResponseSerializer,
)


def _not_found(error: services.UnknownExperimentError) -> NotFound:
    return NotFound({"experiments": f"unknown experiment key(s): {', '.join(error.keys)}"})


def _invalid_segment(error: services.SegmentError) -> ValidationError:
    """A segment attribute's value out of bounds: 400 naming ``attributes.<name>``."""
    return ValidationError({error.field: [str(error)]})


class AssignmentView(APIView):
    """Which variant of each experiment a user is in, with the reason."""

    @extend_schema(
        request=AssignmentRequestSerializer,
        responses={
            200: AssignmentResponseSerializer,
            400: OpenApiResponse(description="invalid field (named in the body)"),
            404: OpenApiResponse(description="unknown experiment key (named in the body)"),
        },
    )
    def post(self, request: Request) -> Response:
        params = AssignmentRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            results = services.assign_user(data["user_id"], data["attributes"], data["experiments"])
        except services.UnknownExperimentError as error:
            raise _not_found(error) from None
        except services.SegmentError as error:
            raise _invalid_segment(error) from None
        return Response(
            AssignmentResponseSerializer({"user_id": data["user_id"], "assignments": results}).data
        )


class BatchAssignmentView(APIView):
    """The same for up to ``SPLITLAB_ASSIGNMENT_BATCH_MAX_USERS`` users in one request."""

    @extend_schema(
        request=BatchAssignmentRequestSerializer,
        responses={
            200: BatchAssignmentResponseSerializer,
            400: OpenApiResponse(description="invalid field (named in the body)"),
            404: OpenApiResponse(description="unknown experiment key (named in the body)"),
        },
    )
    def post(self, request: Request) -> Response:
        params = BatchAssignmentRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        users = params.validated_data["users"]
        try:
            batch = services.assign_users(
                [user_id for user_id, _ in users],
                [attributes for _, attributes in users],
                params.validated_data["experiments"],
                log_exposure=params.validated_data["log_exposures"],
            )
        except services.UnknownExperimentError as error:
            raise _not_found(error) from None
        except services.SegmentError as error:
            raise _invalid_segment(error) from None
        return Response(BatchAssignmentResponseSerializer({"users": batch.rows()}).data)
