"""DRF helpers shared by the apps' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

__all__ = ["FastInputSerializer"]


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
