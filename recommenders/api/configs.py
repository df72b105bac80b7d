"""``/api/v1/recommender-configs``: read with ``analyze`` or ``manage``, create with ``manage``.

Training, promotion and rollback stay on their own endpoints (scope ``models``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments.services import record_audit
from recommenders.core.served_exploration import MAX_POOL
from recommenders.models import RecommenderConfig
from web.serializers import StrictModelSerializer, conflict_or_missing

__all__ = ["RecommenderConfigListView", "RecommenderConfigSerializer"]


class RecommenderConfigSerializer(StrictModelSerializer):
    class Meta:
        model = RecommenderConfig
        exclude = ["id", "retrain_schedule"]
        read_only_fields = ["created_at", "updated_at"]
        # The exploration policy's ranges (ExplorationSettings), stated so the schema says them.
        extra_kwargs = {
            "exploration_temperature": {"min_value": 1e-6, "max_value": 1e6},
            "exploration_epsilon": {"min_value": 0.0, "max_value": 1.0},
            "exploration_pool": {"min_value": 1, "max_value": MAX_POOL},
            "exploration_budget": {"min_value": 0.0, "max_value": 1.0},
        }


@transaction.atomic
def do_create_recommender_config(actor: Any, fields: dict[str, Any]) -> RecommenderConfig:
    """Create a configuration after the model's validation; audit entry ``create_config``."""
    config = RecommenderConfig(**fields)
    try:
        config.full_clean()
    except DjangoValidationError as error:
        raise ValidationError(error.message_dict) from None
    config.save()
    record_audit(
        actor, "create_config", object_repr=f"recommender config {config.name}", changes=fields
    )
    return config


class RecommenderConfigListView(APIView):
    @extend_schema(
        responses={200: RecommenderConfigSerializer(many=True)},
        summary="List recommender configurations (scope: analyze or manage)",
    )
    def get(self, request: Request) -> Response:
        configs = RecommenderConfig.objects.order_by("name")
        return Response(RecommenderConfigSerializer(configs, many=True).data)

    @extend_schema(
        request=RecommenderConfigSerializer,
        responses={
            201: RecommenderConfigSerializer,
            400: OpenApiResponse(description="invalid field (named)"),
            409: OpenApiResponse(description="a configuration with this name exists"),
        },
        summary="Create a recommender configuration (scope: manage)",
    )
    def post(self, request: Request) -> Response:
        params = RecommenderConfigSerializer(data=request.data)
        try:
            params.is_valid(raise_exception=True)
        except ValidationError as error:
            raise conflict_or_missing(error) from None
        config = do_create_recommender_config(request.user, dict(params.validated_data))
        return Response(RecommenderConfigSerializer(config).data, status=status.HTTP_201_CREATED)
