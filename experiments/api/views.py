"""The management API: experiments and their lifecycle, layers, holdouts, metrics.

Every write goes through :mod:`experiments.services` (the admin's services and messages) with
the calling client as the actor, so it lands in the same audit log as an admin change.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments import services
from experiments.api.serializers import (
    ActionResultSerializer,
    ConcludeSerializer,
    ExperimentCreateSerializer,
    ExperimentSerializer,
    ExperimentUpdateSerializer,
    HoldoutSerializer,
    LayerSerializer,
    MetricDefinitionSerializer,
)
from experiments.models import Experiment, Holdout, Layer, MetricDefinition
from experiments.services.metrics import do_create_metric_definition
from experiments.services.update import do_update_experiment
from web.serializers import conflict_or_missing

ERRORS = {
    400: OpenApiResponse(description="invalid field or broken rule (named in the body)"),
    403: OpenApiResponse(description="the client lacks the scope (named in the body)"),
}
NOT_FOUND = {404: OpenApiResponse(description="no experiment with this key")}
CREATE_ERRORS = {
    **ERRORS,
    404: OpenApiResponse(description="a field names an object that does not exist (named)"),
    409: OpenApiResponse(description="the object exists already, or the state forbids it"),
}
ACTIONS = {
    "start": services.do_start_experiment,
    "pause": services.do_pause_experiment,
    "resume": services.do_resume_experiment,
    "stop": services.do_stop_experiment,
    "conclude": services.do_conclude_experiment,
}


def rule_error(error: services.ExperimentError) -> ValidationError:
    detail = error.message_dict
    raised = ValidationError(detail)
    if set(detail) <= {"status", "is_active"}:  # the state, not the request, is at fault
        raised.status_code = status.HTTP_409_CONFLICT
    return raised


def valid(params: Any) -> None:
    """Validate, answering 409 for a duplicate and 404 for a reference to nothing."""
    try:
        params.is_valid(raise_exception=True)
    except ValidationError as error:
        raise conflict_or_missing(error) from None


def experiments_queryset() -> QuerySet[Experiment]:
    return (
        Experiment.objects.select_related("layer", "primary_metric", "owner")
        .prefetch_related("variants__recommender_config", "guardrail_metrics", "secondary_metrics")
        .order_by("-created_at", "key")
    )


def experiment_by_key(key: str) -> Experiment:
    experiment = experiments_queryset().filter(key=key).first()
    if experiment is None:
        raise NotFound({"key": [f"no experiment {key!r}"]})
    return experiment


def _variant_specs(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from django.apps import apps

    config_model = apps.get_model("recommenders", "RecommenderConfig")
    specs = []
    for index, spec in enumerate(variants):
        name = spec.pop("recommender_config", None)
        if name:
            config = config_model.objects.filter(name=name).first()
            if config is None:
                missing = ValidationError(
                    {f"variants[{index}].recommender_config": [f"no configuration {name!r}"]}
                )
                missing.status_code = status.HTTP_404_NOT_FOUND
                raise missing
            spec["recommender_config"] = config
        specs.append(spec)
    return specs


class ExperimentListView(APIView):
    """``GET`` every experiment; ``POST`` a draft (scope ``manage``)."""

    @extend_schema(responses={200: ExperimentSerializer(many=True)}, summary="List experiments")
    def get(self, request: Request) -> Response:
        return Response(ExperimentSerializer(experiments_queryset(), many=True).data)

    @extend_schema(
        request=ExperimentCreateSerializer,
        responses={201: ExperimentSerializer, **CREATE_ERRORS},
        summary="Create a draft experiment (scope: manage)",
    )
    def post(self, request: Request) -> Response:
        params = ExperimentCreateSerializer(data=request.data)
        valid(params)
        data = dict(params.validated_data)
        variants = _variant_specs([dict(v) for v in data.pop("variants")])
        if Experiment.objects.filter(key=data["key"]).exists():
            conflict = ValidationError({"key": [f"an experiment {data['key']!r} already exists"]})
            conflict.status_code = status.HTTP_409_CONFLICT
            raise conflict
        try:
            experiment = services.do_create_experiment(
                variants=variants, actor=request.user, owner=request.user, **data
            )
        except services.ExperimentError as error:
            raise rule_error(error) from None
        body = ExperimentSerializer(experiment_by_key(experiment.key)).data
        return Response(body, status=status.HTTP_201_CREATED)


class ExperimentDetailView(APIView):
    """``GET`` one experiment; ``PATCH`` it with the admin's phase rules (scope ``manage``)."""

    @extend_schema(responses={200: ExperimentSerializer, **NOT_FOUND}, summary="Read")
    def get(self, request: Request, key: str) -> Response:
        return Response(ExperimentSerializer(experiment_by_key(key)).data)

    @extend_schema(
        request=ExperimentUpdateSerializer,
        responses={200: ExperimentSerializer, **CREATE_ERRORS},
        summary="Change an experiment (a changed allocation while running starts a new phase)",
    )
    def patch(self, request: Request, key: str) -> Response:
        experiment = experiment_by_key(key)
        params = ExperimentUpdateSerializer(data=request.data)
        valid(params)
        fields = dict(params.validated_data)
        weights = fields.pop("variant_weights", None)
        try:
            updated = do_update_experiment(
                experiment, request.user, fields=fields, variant_weights=weights
            )
        except services.ExperimentError as error:
            raise rule_error(error) from None
        return Response(ExperimentSerializer(experiment_by_key(updated.key)).data)


class ExperimentActionView(APIView):
    """``POST /experiments/<key>/<action>``: the admin's lifecycle actions (scope ``manage``)."""

    action = "start"

    @extend_schema(
        request=None,
        responses={
            200: ActionResultSerializer,
            **ERRORS,
            **NOT_FOUND,
            409: OpenApiResponse(description="not allowed from the current status (named)"),
        },
    )
    def post(self, request: Request, key: str) -> Response:
        arguments = self.arguments(request)
        experiment = experiment_by_key(key)
        try:
            with transaction.atomic():
                experiment = ACTIONS[self.action](experiment, request.user, **arguments)
        except services.ExperimentError as error:
            raise rule_error(error) from None
        return Response(ActionResultSerializer(experiment).data)

    def arguments(self, request: Request) -> dict[str, Any]:
        """The action's keyword arguments from the body (none but for conclude)."""
        return {}


class _DefinitionListView(APIView):
    """Readable with ``analyze`` or ``manage``; ``POST`` creates (scope ``manage``)."""

    serializer_class: Any = None
    queryset: QuerySet

    def get(self, request: Request) -> Response:
        return Response(self.serializer_class(self.queryset.all(), many=True).data)

    def post(self, request: Request) -> Response:
        params = self.serializer_class(data=request.data)
        valid(params)
        try:
            created = self.create(request, dict(params.validated_data))
        except services.ExperimentError as error:
            raise rule_error(error) from None
        return Response(self.serializer_class(created).data, status=status.HTTP_201_CREATED)

    def create(self, request: Request, data: dict[str, Any]) -> Any:
        raise NotImplementedError


@extend_schema_view(
    get=extend_schema(responses={200: LayerSerializer(many=True)}, summary="List layers"),
    post=extend_schema(
        request=LayerSerializer,
        responses={201: LayerSerializer, **CREATE_ERRORS},
        summary="Create (scope: manage)",
    ),
)
class LayerListView(_DefinitionListView):
    serializer_class = LayerSerializer
    queryset = Layer.objects.order_by("name")

    def create(self, request: Request, data: dict[str, Any]) -> Layer:
        return services.do_create_layer(
            data["name"], request.user, description=data.get("description", "")
        )


@extend_schema_view(
    get=extend_schema(responses={200: HoldoutSerializer(many=True)}, summary="List holdouts"),
    post=extend_schema(
        request=HoldoutSerializer,
        responses={201: HoldoutSerializer, **CREATE_ERRORS},
        summary="Create (scope: manage)",
    ),
)
class HoldoutListView(_DefinitionListView):
    serializer_class = HoldoutSerializer
    queryset = Holdout.objects.order_by("-created_at")

    def create(self, request: Request, data: dict[str, Any]) -> Holdout:
        return services.do_create_holdout(data["name"], data.get("share", 0.02), request.user)


@extend_schema_view(
    get=extend_schema(
        responses={200: MetricDefinitionSerializer(many=True)}, summary="List metric definitions"
    ),
    post=extend_schema(
        request=MetricDefinitionSerializer,
        responses={201: MetricDefinitionSerializer, **CREATE_ERRORS},
        summary="Create (scope: manage)",
    ),
)
class MetricListView(_DefinitionListView):
    serializer_class = MetricDefinitionSerializer
    queryset = MetricDefinition.objects.order_by("key")

    def create(self, request: Request, data: dict[str, Any]) -> MetricDefinition:
        return do_create_metric_definition(request.user, data)


@extend_schema_view(
    post=extend_schema(
        request=ConcludeSerializer,
        responses={
            200: ActionResultSerializer,
            **ERRORS,
            **NOT_FOUND,
            409: OpenApiResponse(description="not allowed from the current status (named)"),
        },
    )
)
class ExperimentConcludeView(ExperimentActionView):
    """``POST /experiments/<key>/conclude``: results final; before the minimum runtime only
    with ``override_reason``, which the audit log records (scope ``manage``)."""

    action = "conclude"

    def arguments(self, request: Request) -> dict[str, Any]:
        params = ConcludeSerializer(data=request.data)
        valid(params)
        return {"override_reason": params.validated_data.get("override_reason", "")}
