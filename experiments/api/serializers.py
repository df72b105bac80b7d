"""Shapes of the management API: experiments, variants, layers, holdouts, metrics.

Validation of business rules is the services' (``check_*``); these serializers only parse
types and name unknown references.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from experiments.models import Experiment, Holdout, Layer, MetricDefinition, Variant
from experiments.segments import (
    MAX_SEGMENT_ATTRIBUTES,
    NEW_VS_RETURNING,
    SEGMENT_NAME_MAX_LENGTH,
    SEGMENT_NAME_PATTERN,
)
from web.serializers import (
    JSONObjectField,
    RulesInSchema,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictModelSerializer,
    StrictSlugField,
)

__all__ = [
    "ExperimentCreateSerializer",
    "ExperimentSerializer",
    "ExperimentUpdateSerializer",
    "HoldoutSerializer",
    "LayerSerializer",
    "MetricDefinitionSerializer",
]


class VariantSerializer(serializers.ModelSerializer):
    recommender_config = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )

    class Meta:
        model = Variant
        fields = ["key", "name", "weight", "is_control", "position", "recommender_config"]


class ExperimentSerializer(serializers.ModelSerializer):
    """An experiment as read (every field the admin shows, variants inline)."""

    variants = VariantSerializer(many=True, read_only=True)
    layer = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    primary_metric = serializers.SlugRelatedField(slug_field="key", read_only=True, allow_null=True)
    guardrail_metrics = serializers.SlugRelatedField(slug_field="key", many=True, read_only=True)
    secondary_metrics = serializers.SlugRelatedField(slug_field="key", many=True, read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Experiment
        exclude = ["id"]


class VariantInputSerializer(serializers.Serializer):
    """One variant of a new experiment."""

    key = StrictSlugField(max_length=100)
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    weight = StrictFloatField(required=False, default=1.0, min_value=0.0)
    is_control = StrictBooleanField(required=False, default=False)
    recommender_config = StrictCharField(max_length=100, required=False, allow_null=True)


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_SEGMENT_ATTRIBUTES,
        "uniqueItems": True,
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": SEGMENT_NAME_MAX_LENGTH,
            "pattern": SEGMENT_NAME_PATTERN,
            "not": {"const": NEW_VS_RETURNING},
        },
    }
)
class SegmentAttributesField(serializers.ListField):
    """Attribute names to break results down by; the rules are ``experiments.segments``'."""


class _ExperimentFieldsSerializer(serializers.Serializer):
    """The editable fields, all optional (PATCH semantics)."""

    name = StrictCharField(max_length=200, required=False)
    hypothesis = StrictCharField(required=False, allow_blank=True)
    hash_seed = StrictCharField(max_length=200, required=False, allow_blank=True)
    kind = serializers.ChoiceField(
        choices=Experiment.Kind.choices,
        required=False,
        help_text="ab (the default): each user sees one variant; interleaving: every user sees "
        "the variants' lists merged (2 to 4 variants, each bound to a recommender "
        "configuration). Fixed once the experiment has started.",
    )
    interleaving_aa = StrictBooleanField(
        required=False,
        help_text="interleaving A/A: the variants may share one configuration (interleaving only)",
    )
    hash_version = serializers.ChoiceField(choices=Experiment.HashVersion.choices, required=False)
    coverage = StrictFloatField(required=False, min_value=0.0, max_value=1.0)
    layer = serializers.SlugRelatedField(
        slug_field="name", queryset=Layer.objects.all(), required=False, allow_null=True
    )
    layer_start = StrictFloatField(required=False, min_value=0.0, max_value=1.0)
    layer_end = StrictFloatField(required=False, min_value=0.0, max_value=1.0)
    targeting = JSONObjectField(required=False)
    qa_overrides = serializers.DictField(child=StrictCharField(), required=False)
    segment_attributes = SegmentAttributesField(
        child=StrictCharField(max_length=SEGMENT_NAME_MAX_LENGTH),
        required=False,
        help_text='user attributes to break results down by, e.g. ["device", "country"]: the '
        "values sent with each user's first assignment are kept on the exposure. Exploratory "
        "(corrected for the number of segments); fixed once the experiment has started.",
    )
    min_runtime_days = StrictIntegerField(required=False, min_value=0)
    planned_sample_size = StrictIntegerField(required=False, min_value=0, allow_null=True)
    daily_traffic = StrictIntegerField(required=False, min_value=0, allow_null=True)
    baseline_rate = StrictFloatField(required=False, min_value=0.0, max_value=1.0)
    mde_relative = StrictFloatField(required=False, min_value=0.0)
    alpha = StrictFloatField(required=False, min_value=1e-6, max_value=0.5)
    power = StrictFloatField(required=False, min_value=0.5, max_value=0.9999)
    surface = StrictCharField(max_length=100, required=False, allow_blank=True)
    sequential_testing = StrictBooleanField(required=False)
    primary_metric = serializers.SlugRelatedField(
        slug_field="key",
        queryset=MetricDefinition.objects.all(),
        required=False,
        allow_null=True,
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


class ExperimentCreateSerializer(_ExperimentFieldsSerializer):
    key = StrictSlugField(max_length=100)
    name = StrictCharField(max_length=200)
    variants = VariantInputSerializer(many=True, min_length=2)
    guardrail_metrics = serializers.SlugRelatedField(
        slug_field="key", many=True, queryset=MetricDefinition.objects.all(), required=False
    )
    secondary_metrics = serializers.SlugRelatedField(
        slug_field="key", many=True, queryset=MetricDefinition.objects.all(), required=False
    )

    def to_internal_value(self, data: Any) -> Any:
        variants = data.get("variants") if isinstance(data, dict) else None
        if isinstance(variants, list) and len(variants) < 2:  # the services' message
            raise serializers.ValidationError(
                {"variants": ["an experiment needs at least two variants"]}
            )
        return super().to_internal_value(data)


class ExperimentUpdateSerializer(_ExperimentFieldsSerializer):
    key = StrictSlugField(max_length=100, required=False)
    variant_weights = serializers.DictField(
        child=StrictFloatField(min_value=0.0),
        required=False,
        help_text="variant key -> weight; once started it must name every variant",
    )


class ConcludeSerializer(serializers.Serializer):
    override_reason = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="needed to conclude before the minimum runtime; recorded in the audit log",
    )


class ActionResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    status = serializers.CharField()
    current_phase = serializers.IntegerField()


class LayerSerializer(StrictModelSerializer):
    class Meta:
        model = Layer
        fields = ["name", "description", "seed", "created_at"]
        read_only_fields = ["seed", "created_at"]


class HoldoutSerializer(StrictModelSerializer):
    class Meta:
        model = Holdout
        fields = ["name", "share", "seed", "is_active", "created_at"]
        read_only_fields = ["seed", "is_active", "created_at"]


QUANTILE_KINDS = sorted(
    kind
    for kind, statistic in MetricDefinition.STATISTIC_OF_KIND.items()
    if statistic == MetricDefinition.Statistic.QUANTILE
)


class MetricDefinitionSerializer(RulesInSchema, StrictModelSerializer):
    """A metric and its analysis options; the rules of ``MetricDefinition.clean`` stated in the
    schema too."""

    schema_rules = {
        "allOf": [
            {
                "properties": {
                    "winsorize_percentile": {"exclusiveMinimum": 0.5, "exclusiveMaximum": 1},
                    "prior_mean": {"minimum": -10, "maximum": 10},
                    "prior_stddev": {"exclusiveMinimum": 0, "maximum": 10},
                    "planning_log_sd": {"exclusiveMinimum": 0, "maximum": 10},
                }
            },
            {  # winsorisation caps per-user amounts: only the kinds that have them
                "if": {
                    "properties": {"winsorize_percentile": {"type": "number"}},
                    "required": ["winsorize_percentile"],
                },
                "then": {
                    "properties": {"kind": {"enum": sorted(MetricDefinition.WINSORIZABLE_KINDS)}}
                },
            },
            {  # a quantile kind needs its level, other kinds take none
                "if": {"required": ["kind"], "properties": {"kind": {"enum": QUANTILE_KINDS}}},
                "then": {
                    "required": ["quantile_level"],
                    "properties": {"quantile_level": {"type": "number"}},
                },
                "else": {"properties": {"quantile_level": {"type": "null"}}},
            },
        ]
    }

    class Meta:
        model = MetricDefinition
        exclude = ["id"]
        read_only_fields = ["statistic"]
