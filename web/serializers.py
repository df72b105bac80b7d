"""DRF helpers shared by the apps' APIs."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

__all__ = [
    "FastInputSerializer",
    "RulesInSchema",
    "JSONObjectField",
    "StrictBooleanField",
    "StrictCharField",
    "StrictFloatField",
    "StrictIntegerField",
    "StrictModelSerializer",
    "StrictSlugField",
]


class FastInputSerializer(serializers.Serializer):
    """An input serializer that validates by hand (in ``parse``).

    The declared fields document the shape (OpenAPI); validation skips DRF's per-instance
    deep copy of them, which costs more than an assignment or the web side of a served list
    on those hot paths. Errors keep DRF's shape: ``{"field": ["message"]}``.
    """

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["request body: expected a JSON object"]}
            )
        try:
            return self.parse(data)
        except serializers.ValidationError as error:
            detail = error.detail
            if isinstance(detail, dict):
                raise serializers.ValidationError(
                    {k: v if isinstance(v, list) else [v] for k, v in detail.items()}
                ) from None
            raise

    def run_validators(self, value: Any) -> None:
        # No serializer-level validators here; DRF's version would copy every field to look
        # for read-only defaults.
        return None

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class RulesInSchema:
    """A serializer whose rules across fields are stated in its schema too.

    ``schema_rules``: JSON Schema keywords (OpenAPI 3.1: ``allOf``, ``anyOf``, ``if``/``then``)
    merged into the serializer's component, so that a request the schema calls valid is one
    the serializer accepts.
    """

    schema_rules: dict[str, Any] = {}


class _RulesInSchemaExtension(OpenApiSerializerExtension):
    target_class = RulesInSchema
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, **self.target.schema_rules}


# --- strict JSON types --------------------------------------------------------------------------
# DRF coerces: "true", 1 and "yes" pass a BooleanField, 7 passes a CharField, "1.5" a
# FloatField. The schema promises JSON types, so a request the schema calls invalid must be
# refused (what schema-based fuzzing checks); these fields refuse the other JSON types.


def _refuse_type(field: serializers.Field, data: Any, expected: str) -> None:
    """Raise the field's error naming the JSON type it takes."""
    raise serializers.ValidationError(f"expected {expected}, not {type(data).__name__}")


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            _refuse_type(self, data, "true or false")
        return data


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            _refuse_type(self, data, "a string")
        return super().to_internal_value(data)


class StrictSlugField(serializers.SlugField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            _refuse_type(self, data, "a string")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            _refuse_type(self, data, "a number")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer; ``3.0`` is one too, as JSON Schema (OpenAPI 3.1) counts it."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            _refuse_type(self, data, "an integer")
        return super().to_internal_value(data)


def _path_of_nul(data: Any, path: str = "") -> str | None:
    """Where a NUL character stands in ``data`` (a key or a string value), or None."""
    if isinstance(data, str):
        return (path or "(value)") if "\x00" in data else None
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return where
        found = _path_of_nul(value, where)
        if found:
            return found
    return None


class JSONObjectField(serializers.DictField):
    """A JSON object (not null, not another type), without NUL characters, which PostgreSQL's
    jsonb cannot hold (the write would fail as a server error)."""

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            _refuse_type(self, data, "an object")
        where = _path_of_nul(data)
        if where:
            raise serializers.ValidationError(f"{where}: must not contain NUL (\\u0000) characters")
        return dict(data)


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose fields take only their JSON type, and no unknown fields."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.FloatField: StrictFloatField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.JSONField: JSONObjectField,
    }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - {n for n, f in self.fields.items() if not f.read_only})
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)

    def build_standard_field(self, field_name: str, model_field: Any) -> tuple:
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if field_class is JSONObjectField:
            kwargs.pop("encoder", None)
            kwargs.pop("decoder", None)
        return field_class, kwargs


def conflict_or_missing(error: serializers.ValidationError) -> serializers.ValidationError:
    """The same error, answered 409 when a field names an existing object (unique) and 404
    when it names one that does not exist: the request is well-formed, the data is not."""
    codes = error.get_codes() if hasattr(error, "get_codes") else {}
    flat = [
        c
        for value in (codes.values() if isinstance(codes, dict) else [])
        for c in (value if isinstance(value, list) else [value])
    ]
    if flat and all(c == "unique" for c in flat):
        error.status_code = 409
    elif flat and all(c in ("does_not_exist", "unique") for c in flat):
        error.status_code = 404 if "does_not_exist" in flat else 409
    return error
