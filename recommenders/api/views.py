"""Recommendations, onboarding preferences, serving metrics and model-version actions."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommenders.api import serializers as s
from recommenders.models import ModelVersion, RecommenderConfig
from recommenders.services import training
from recommenders.serving import log as serving_log
from recommenders.serving import web as serving


def _invalid(error: serving.InvalidRequest) -> ValidationError | NotFound:
    """400 naming the field; 404 naming it when it names nothing (an unknown surface or item,
    as an unknown experiment key is for assignments)."""
    if isinstance(error, serving.UnknownReference):
        return NotFound({error.field: [str(error)]})
    return ValidationError({error.field: [str(error)]})


class RecommendationsView(APIView):
    """``GET /api/v1/recommendations?user_id=&k=&surface=&device=&session_depth=&offset=``."""

    @extend_schema(
        parameters=[s.RecommendationQuerySerializer],
        responses={
            200: s.RecommendationsSerializer,
            404: OpenApiResponse(description="unknown surface (named in the body)"),
        },
    )
    def get(self, request: Request) -> Response:
        query = s.RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            served = serving.recommend_for_request(
                serving.RecommendationRequest(**query.validated_data)
            )
        except serving.InvalidRequest as error:
            raise _invalid(error) from error
        return Response(_recommendations_body(served))


def _recommendations_body(served: serving.ServedRecommendations) -> dict:
    """The documented answer (``RecommendationsSerializer``), built directly: DRF's field
    machinery costs more than the rest of the web side of a served list."""
    body = {
        "request_id": served.request_id,
        "user_id": served.user_id,
        "surface": served.surface,
        "experiment": served.experiment,
        "variant": served.variant,
        "in_experiment": served.in_experiment,
        "reason": served.reason,
        "config": served.config,
        "model_version": served.model_version,
        "fallback": served.fallback,
        "fallback_reason": served.fallback_reason,
        "items": [
            {
                "item_id": str(item["item_id"]),
                "score": None if item["score"] is None else float(item["score"]),
                "position": int(item["position"]),
                "source": str(item["source"]),
            }
            for item in served.items
        ],
    }
    body["interleaving"] = served.interleaving
    if served.interleaving is not None:  # an interleaving experiment's merged list
        for shown, item in zip(body["items"], served.items, strict=True):
            if "team" in item:
                shown["team"] = str(item["team"])
    return body


class UserPreferencesView(APIView):
    """``POST /api/v1/users/{id}/preferences``: liked categories and items at onboarding."""

    @extend_schema(
        request=s.PreferencesInputSerializer,
        responses={
            200: s.PreferencesSerializer,
            404: OpenApiResponse(description="unknown item id(s) (named in the body)"),
        },
    )
    def post(self, request: Request, user_id: str) -> Response:
        if len(user_id) > s.PROFILE_ID_MAX_LENGTH:
            raise ValidationError({"user_id": [f"at most {s.PROFILE_ID_MAX_LENGTH} characters"]})
        if "\x00" in user_id:  # PostgreSQL text cannot hold it
            raise ValidationError({"user_id": ["must not contain NUL (\\u0000) characters"]})
        body = s.PreferencesInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            profile = serving.do_set_user_preferences(user_id, **body.validated_data)
        except serving.InvalidRequest as error:
            raise _invalid(error) from error
        return Response(s.PreferencesSerializer(profile).data, status=status.HTTP_200_OK)


class ServingMetricsView(APIView):
    """``GET /api/v1/recommendations/metrics``: requests and fallbacks since the start."""

    @extend_schema(responses=s.ServingMetricsSerializer)
    def get(self, request: Request) -> Response:
        counters = serving_log.counter_snapshot()
        requests = counters.get("requests", 0)
        fallbacks = counters.get("fallbacks", 0)
        by_reason = {
            name.split(":", 1)[1]: value
            for name, value in counters.items()
            if name.startswith("fallbacks:")
        }
        body = {
            "requests": requests,
            "fallbacks": fallbacks,
            "fallback_rate": fallbacks / requests if requests else 0.0,
            "fallbacks_by_reason": by_reason,
        }
        return Response(s.ServingMetricsSerializer(body).data)


class TrainConfigView(APIView):
    """``POST /api/v1/recommender-configs/{name}/train``: start (or join) a training."""

    @extend_schema(request=None, responses={202: s.ModelVersionSerializer})
    def post(self, request: Request, name: str) -> Response:
        config = get_object_or_404(RecommenderConfig, name=name)
        version = training.do_start_training(config, trigger="api")
        return Response(s.ModelVersionSerializer(version).data, status=status.HTTP_202_ACCEPTED)


class RollbackConfigView(APIView):
    """``POST /api/v1/recommender-configs/{name}/rollback``: one step back."""

    @extend_schema(request=None, responses=s.ModelVersionSerializer)
    def post(self, request: Request, name: str) -> Response:
        config = get_object_or_404(RecommenderConfig, name=name)
        try:
            version = training.do_rollback_config(config)
        except training.PromotionError as error:
            raise ValidationError({"config": [str(error)]}) from error
        return Response(s.ModelVersionSerializer(version).data)


class ModelVersionView(APIView):
    """``GET /api/v1/model-versions/{id}``: status, stage and percent of a version."""

    @extend_schema(responses=s.ModelVersionSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        version = get_object_or_404(ModelVersion.objects.select_related("config"), pk=version_id)
        return Response(s.ModelVersionSerializer(version).data)


class PromoteModelVersionView(APIView):
    """``POST /api/v1/model-versions/{id}/promote``: make it the active version."""

    @extend_schema(request=None, responses=s.ModelVersionSerializer)
    def post(self, request: Request, version_id: int) -> Response:
        version = get_object_or_404(ModelVersion.objects.select_related("config"), pk=version_id)
        try:
            version = training.do_promote_model_version(version, reason="api")
        except training.PromotionError as error:
            raise ValidationError({"version": [str(error)]}) from error
        return Response(s.ModelVersionSerializer(version).data)
