"""Input and output serializers of the recommendations API (no business logic here)."""

from __future__ import annotations

from rest_framework import serializers

from recommenders.models import ModelVersion
from recommenders.services.serving import MAX_K

USER_ID_MAX_LENGTH = 256  # as assignment and events accept
PROFILE_ID_MAX_LENGTH = 64  # UserProfile.external_id


class RecommendationQuerySerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=USER_ID_MAX_LENGTH, trim_whitespace=True)
    k = serializers.IntegerField(
        default=10,
        min_value=1,
        max_value=MAX_K,
        error_messages={
            "min_value": f"k must be between 1 and {MAX_K}.",
            "max_value": f"k must be between 1 and {MAX_K}.",
        },
    )
    surface = serializers.CharField(max_length=100, default="home")
    device = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    session_depth = serializers.IntegerField(
        min_value=0, max_value=100_000, required=False, allow_null=True, default=None
    )


class RecommendedItemSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    position = serializers.IntegerField()
    source = serializers.CharField()


class RecommendationsSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    user_id = serializers.CharField()
    surface = serializers.CharField()
    experiment = serializers.CharField(allow_null=True)
    variant = serializers.CharField(allow_null=True)
    config = serializers.CharField(allow_null=True)
    model_version = serializers.IntegerField(allow_null=True)
    fallback = serializers.BooleanField()
    fallback_reason = serializers.CharField(allow_null=True)
    items = RecommendedItemSerializer(many=True)


class PreferencesInputSerializer(serializers.Serializer):
    categories = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=100
    )
    items = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=500
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs["categories"] and not attrs["items"]:
            raise serializers.ValidationError(
                {"categories": "give at least one liked category or item"}
            )
        return attrs


class PreferencesSerializer(serializers.Serializer):
    user_id = serializers.CharField(source="external_id")
    preferences = serializers.JSONField()


class ServingMetricsSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    fallbacks = serializers.IntegerField()
    fallback_rate = serializers.FloatField()
    fallbacks_by_reason = serializers.DictField(child=serializers.IntegerField())


class ModelVersionSerializer(serializers.ModelSerializer):
    config = serializers.CharField(source="config.name")

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "config",
            "status",
            "stage",
            "progress_percent",
            "trigger",
            "algorithm",
            "data_window_start",
            "data_window_end",
            "n_users",
            "n_items",
            "n_interactions",
            "metrics",
            "gate_decision",
            "fit_seconds",
            "error",
            "created_at",
            "activated_at",
            "previous_version",
        ]
