"""Shapes of ``POST /api/v1/events`` for the OpenAPI schema.

Validation itself runs in :mod:`analytics.services.event_validation` (plain Python: a batch
holds up to 10,000 events); these serializers describe the contract and shape the answer.
"""

from __future__ import annotations

from rest_framework import serializers

from analytics.services.event_validation import EVENT_TYPES


class ImpressionItemSerializer(serializers.Serializer):
    item_id = serializers.CharField(max_length=256)
    position = serializers.IntegerField(min_value=0)


class EventSerializer(serializers.Serializer):
    """One event. Which fields are required depends on ``type`` (see each field)."""

    event_id = serializers.CharField(max_length=128, help_text="idempotency key (client-made)")
    type = serializers.ChoiceField(choices=sorted(EVENT_TYPES))
    user_id = serializers.CharField(max_length=256)
    timestamp = serializers.DateTimeField(
        help_text="ISO 8601 with offset (or Unix seconds), inside the accepted window"
    )
    request_id = serializers.CharField(
        required=False, help_text="required for impression and click: the served list's id"
    )
    session_id = serializers.CharField(
        required=False, help_text="required for session_start and session_end"
    )
    item_id = serializers.CharField(required=False, help_text="required for click and watch")
    position = serializers.IntegerField(required=False, min_value=0)
    items = ImpressionItemSerializer(
        many=True, required=False, help_text="required for impression: the list as shown"
    )
    seconds = serializers.FloatField(
        required=False, min_value=0, help_text="required for watch and first_interaction"
    )
    value = serializers.FloatField(required=False, help_text="conversion value (default 0)")
    surface = serializers.CharField(required=False, max_length=100)
    experiment = serializers.CharField(required=False, max_length=100)
    variant = serializers.CharField(required=False, max_length=100)
    attributes = serializers.DictField(
        required=False, help_text="free flat attributes: device, platform, ..."
    )


class EventBatchSerializer(serializers.Serializer):
    """A batch: ``{"events": [...]}``; a bare list or a single event object also work."""

    events = EventSerializer(many=True, max_length=10_000)


class RejectedEventSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position in the batch")
    event_id = serializers.CharField(allow_null=True)
    errors = serializers.DictField(child=serializers.CharField(), help_text="field -> reason")


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField(help_text="events new to the store")
    duplicates = serializers.IntegerField(help_text="event_ids already stored (success too)")
    accepted = serializers.IntegerField(help_text="stored + duplicates")
    rejected = RejectedEventSerializer(many=True)
