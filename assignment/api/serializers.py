"""Request and response shapes of the assignment API (validation only; no logic)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assignment.models import USER_ID_MAX_LENGTH
from web.serializers import FastInputSerializer

ATTRIBUTE_KEY_MAX_LENGTH = 100
ATTRIBUTE_VALUE_MAX_LENGTH = 1000
EXPERIMENT_KEYS_MAX = 1000


def check_attributes(value: Any, field: str) -> dict[str, Any]:
    """A flat object whose values are strings, numbers or booleans; raises naming ``field``."""
    if not isinstance(value, dict):
        raise serializers.ValidationError(
            {field: "must be a flat object of attribute -> string, number or boolean"}
        )
    for key, item in value.items():
        if not key or len(key) > ATTRIBUTE_KEY_MAX_LENGTH:
            raise serializers.ValidationError(
                {field: f"attribute names must have 1 to {ATTRIBUTE_KEY_MAX_LENGTH} characters"}
            )
        if isinstance(item, str):
            if len(item) > ATTRIBUTE_VALUE_MAX_LENGTH:
                raise serializers.ValidationError(
                    {field: f"{key}: at most {ATTRIBUTE_VALUE_MAX_LENGTH} characters"}
                )
        elif not isinstance(item, bool | int | float) or item != item:  # NaN is not a value
            raise serializers.ValidationError(
                {
                    field: f"{key}: must be a string, number or boolean, not "
                    f"{type(item).__name__ if item is not None else 'null'}"
                }
            )
    return value


def check_user_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        kind = "null" if value is None else type(value).__name__
        raise serializers.ValidationError(
            {
                field: "must be a non-empty string"
                + ("" if isinstance(value, str) else f", not {kind}")
            }
        )
    if len(value) > USER_ID_MAX_LENGTH:
        raise serializers.ValidationError(
            {field: f"must have at most {USER_ID_MAX_LENGTH} characters, got {len(value)}"}
        )
    if "\x00" in value:  # PostgreSQL text cannot hold it: the exposure flush would fail
        raise serializers.ValidationError({field: "must not contain NUL (\\u0000) characters"})
    return value


ATTRIBUTES_SCHEMA = {
    "type": "object",
    "propertyNames": {"minLength": 1, "maxLength": ATTRIBUTE_KEY_MAX_LENGTH},
    "additionalProperties": {
        "oneOf": [
            {"type": "string", "maxLength": ATTRIBUTE_VALUE_MAX_LENGTH},
            {"type": "number"},
            {"type": "boolean"},
        ]
    },
}
USER_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": USER_ID_MAX_LENGTH}


@extend_schema_field(ATTRIBUTES_SCHEMA)
class AttributesField(serializers.Field):
    """A flat JSON object of user attributes (strings, numbers, booleans)."""

    default_error_messages = {"invalid": "must be a flat object of strings, numbers, booleans"}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        try:
            return check_attributes(data, "attributes")
        except serializers.ValidationError as error:
            raise serializers.ValidationError(error.detail["attributes"]) from None

    def to_representation(self, value: Any) -> Any:
        return value


class StrictCharField(serializers.CharField):
    """A string, and only a string: numbers are not silently turned into ids."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(
                f"must be a string, not {'null' if data is None else type(data).__name__}"
            )
        return super().to_internal_value(data)


class ExperimentKeysField(serializers.ListField):
    child = StrictCharField(max_length=100, allow_blank=False)
    max_length = EXPERIMENT_KEYS_MAX


def check_experiment_keys(value: Any, field: str = "experiments") -> list[str] | None:
    """None (every running experiment) or a list of non-empty key strings."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise serializers.ValidationError({field: "must be a list of experiment keys"})
    if len(value) > EXPERIMENT_KEYS_MAX:
        raise serializers.ValidationError({field: f"at most {EXPERIMENT_KEYS_MAX} keys"})
    for key in value:
        if not isinstance(key, str) or not key or len(key) > 100:
            raise serializers.ValidationError(
                {
                    field: f"each key must be a non-empty string of at most 100 characters, "
                    f"got {key!r}"
                }
            )
    return value


class AssignmentRequestSerializer(FastInputSerializer):
    user_id = StrictCharField(
        max_length=USER_ID_MAX_LENGTH, allow_blank=False, trim_whitespace=False
    )
    attributes = AttributesField(required=False, default=dict)
    experiments = ExperimentKeysField(
        required=False,
        allow_null=True,
        default=None,
        help_text="experiment keys; omitted or null: every running experiment",
    )

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        if "user_id" not in data:
            raise serializers.ValidationError({"user_id": "this field is required"})
        return {
            "user_id": check_user_id(data["user_id"], "user_id"),
            "attributes": check_attributes(data.get("attributes", {}), "attributes"),
            "experiments": check_experiment_keys(data.get("experiments")),
        }


@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "maxItems": settings.SPLITLAB_ASSIGNMENT_BATCH_MAX_USERS,
        "items": {
            "type": "object",
            "properties": {"user_id": USER_ID_SCHEMA, "attributes": ATTRIBUTES_SCHEMA},
            "required": ["user_id"],
        },
    }
)
class BatchUsersField(serializers.Field):
    """``[{"user_id": ..., "attributes": {...}}, ...]`` validated without per-item serializers
    (10,000 nested serializers would cost more than the assignment itself)."""

    def to_internal_value(self, data: Any) -> list[tuple[str, dict[str, Any]]]:
        limit = settings.SPLITLAB_ASSIGNMENT_BATCH_MAX_USERS
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError("must be a non-empty list of users")
        if len(data) > limit:
            raise serializers.ValidationError(
                f"at most {limit} users per request, got {len(data)}; split the batch"
            )
        users = []
        for position, item in enumerate(data):
            where = f"users[{position}]"
            if not isinstance(item, dict):
                raise serializers.ValidationError(f"{where}: must be an object with user_id")
            try:
                user_id = check_user_id(item.get("user_id"), "user_id")
                attributes = check_attributes(item.get("attributes", {}), "attributes")
            except serializers.ValidationError as error:
                ((name, message),) = error.detail.items()
                text = message[0] if isinstance(message, list) else message  # a str: not [0]
                raise serializers.ValidationError(f"{where}.{name}: {text}") from None
            users.append((user_id, attributes))
        return users

    def to_representation(self, value: Any) -> Any:
        return value


class BatchAssignmentRequestSerializer(FastInputSerializer):
    users = BatchUsersField(help_text='list of {"user_id": str, "attributes": {...}}')
    experiments = ExperimentKeysField(required=False, allow_null=True, default=None)
    log_exposures = serializers.BooleanField(
        required=False,
        default=False,
        help_text="record these users' first exposures (default false: a batch is usually "
        "offline work, and logging 10,000 users would flood a running experiment)",
    )

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        log_exposures = data.get("log_exposures", False)
        if not isinstance(log_exposures, bool):
            raise serializers.ValidationError({"log_exposures": "must be true or false"})
        if "users" not in data:
            raise serializers.ValidationError({"users": "this field is required"})
        try:
            users = BatchUsersField().to_internal_value(data["users"])
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"users": error.detail}) from None
        return {
            "users": users,
            "experiments": check_experiment_keys(data.get("experiments")),
            "log_exposures": log_exposures,
        }


class AssignmentSerializer(serializers.Serializer):
    experiment = serializers.CharField()
    variant = serializers.CharField(help_text="what to serve (control when not in)")
    in_experiment = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=[
            "not_running",
            "override",
            "holdout",
            "not_targeted",
            "layer",
            "coverage",
            "assigned",
        ]
    )
    phase = serializers.IntegerField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return assignment_dict(instance)


def assignment_dict(instance: Any) -> dict[str, Any]:
    """An ``AssignmentResult`` (or an already plain row) as the API's JSON object."""
    if isinstance(instance, dict):
        return instance
    return {
        "experiment": instance.experiment,
        "variant": instance.variant,
        "in_experiment": instance.in_experiment,
        "reason": instance.reason,
        "phase": instance.phase,
    }


class AssignmentResponseSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    assignments = AssignmentSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # The declared fields document the shape; building the dict directly avoids DRF's
        # per-instance field copies on the hot path.
        return {
            "user_id": instance["user_id"],
            "assignments": [assignment_dict(item) for item in instance["assignments"]],
        }


class BatchAssignmentResponseSerializer(serializers.Serializer):
    users = AssignmentResponseSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"users": instance["users"]}
