"""Input and output serializers of the recommendations API (no business logic here)."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from recommenders.models import ModelVersion
from recommenders.serving.web import MAX_K, MAX_OFFSET
from web.serializers import FastInputSerializer, RulesInSchema, StrictCharField

USER_ID_MAX_LENGTH = 256  # as assignment and events accept
PROFILE_ID_MAX_LENGTH = 64  # UserProfile.external_id


K_RANGE_MESSAGE = f"k must be between 1 and {MAX_K}."
QUERY_DEFAULTS: dict[str, Any] = {
    "k": 10,
    "surface": "home",
    "device": "",
    "session_depth": None,
    "offset": 0,
}
_TRAILING_ZEROS = re.compile(r"\.0*\s*$")  # DRF's IntegerField accepts "10.0"


def _text(raw: Any, max_length: int, *, blank: bool) -> str:
    """DRF's ``CharField(trim_whitespace=True)``: stripped, not blank unless allowed."""
    value = str(raw).strip()
    if not value and not blank:
        raise ValueError("This field may not be blank.")
    if len(value) > max_length:
        raise ValueError(f"Ensure this field has no more than {max_length} characters.")
    if "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    for char in value:
        if "\ud800" <= char <= "\udfff":
            raise ValueError(f"Surrogate characters are not allowed: U+{ord(char):X}.")
    return value


def _integer(
    raw: Any, low: int, high: int, below: str | None = None, above: str | None = None
) -> int:
    """DRF's ``IntegerField(min_value=low, max_value=high)``."""
    text = str(raw)
    if len(text) > 1000:
        raise ValueError("String value too large.")
    try:
        value = int(_TRAILING_ZEROS.sub("", text))
    except ValueError:
        raise ValueError("A valid integer is required.") from None
    if value < low:
        raise ValueError(below or f"Ensure this value is greater than or equal to {low}.")
    if value > high:
        raise ValueError(above or f"Ensure this value is less than or equal to {high}.")
    return value


class RecommendationQuerySerializer(FastInputSerializer):
    """The query of ``GET /recommendations``: DRF's rules for the declared fields (a test
    holds the two to the same answers), checked by hand on this hot path."""

    user_id = serializers.CharField(max_length=USER_ID_MAX_LENGTH, trim_whitespace=True)
    k = serializers.IntegerField(
        default=10,
        min_value=1,
        max_value=MAX_K,
        error_messages={
            "min_value": K_RANGE_MESSAGE,
            "max_value": K_RANGE_MESSAGE,
        },
    )
    surface = serializers.CharField(max_length=100, default="home")
    device = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    session_depth = serializers.IntegerField(
        min_value=0, max_value=100_000, required=False, allow_null=True, default=None
    )
    offset = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OFFSET,
        default=0,
        help_text="the page: positions [offset, offset + k); an interleaved page continues "
        "the user's draft",
    )

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for name, check in (
            ("user_id", lambda v: _text(v, USER_ID_MAX_LENGTH, blank=False)),
            ("k", lambda v: _integer(v, 1, MAX_K, K_RANGE_MESSAGE, K_RANGE_MESSAGE)),
            ("surface", lambda v: _text(v, 100, blank=False)),
            ("device", lambda v: _text(v, 50, blank=True)),
            ("session_depth", lambda v: _integer(v, 0, 100_000)),
            ("offset", lambda v: _integer(v, 0, MAX_OFFSET)),
        ):
            raw = data.get(name)
            if raw is None or (raw == "" and name != "user_id"):
                if name == "user_id":
                    errors[name] = ["This field is required."]
                else:
                    values[name] = QUERY_DEFAULTS[name]
                continue
            try:
                values[name] = check(raw)
            except ValueError as error:
                errors[name] = [str(error)]
        if errors:
            raise serializers.ValidationError(errors)
        return values


class RecommendedItemSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    position = serializers.IntegerField()
    source = serializers.CharField()
    team = serializers.CharField(
        required=False, help_text="interleaving: the variant whose ranker contributed the item"
    )


class RecommendationsSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    user_id = serializers.CharField()
    surface = serializers.CharField()
    experiment = serializers.CharField(
        allow_null=True, help_text="the experiment running on the surface; null: none"
    )
    variant = serializers.CharField(
        allow_null=True,
        help_text="as POST /assignments answers: the user's variant, or the control's key "
        "(served) when the user is not in the experiment",
    )
    in_experiment = serializers.BooleanField(
        help_text="false for a user outside the experiment (see reason), or when none runs"
    )
    reason = serializers.ChoiceField(
        choices=["override", "holdout", "not_targeted", "layer", "coverage", "assigned"],
        allow_null=True,
        help_text="why the user is or is not in the experiment (as POST /assignments); "
        "null when no experiment runs on the surface",
    )
    config = serializers.CharField(allow_null=True)
    model_version = serializers.IntegerField(allow_null=True)
    fallback = serializers.BooleanField()
    fallback_reason = serializers.CharField(allow_null=True)
    interleaving = serializers.ChoiceField(
        choices=["full", "partial", "fallback"],
        allow_null=True,
        help_text="null unless the user is in an interleaving experiment: full (every ranker "
        "answered), partial (some missed the deadline; excluded from the analysis), fallback",
    )
    items = RecommendedItemSerializer(many=True)


class PreferencesInputSerializer(RulesInSchema, serializers.Serializer):
    categories = serializers.ListField(
        child=StrictCharField(max_length=100), required=False, default=list, max_length=100
    )
    items = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, default=list, max_length=500
    )
    schema_rules = {
        "anyOf": [
            {"required": ["categories"], "properties": {"categories": {"minItems": 1}}},
            {"required": ["items"], "properties": {"items": {"minItems": 1}}},
        ]
    }

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
