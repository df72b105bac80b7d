"""The hand-checked query of GET /recommendations answers as DRF's own field validation."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework import serializers

from recommenders.api.serializers import RecommendationQuerySerializer

CASES = [
    "user_id=42",
    "user_id=%2042%20&k=5&surface=detail&device=ios&session_depth=3",
    "user_id=u&k=10.0&session_depth=0",
    "user_id=u&k=&surface=&device=&session_depth=",
    "user_id=u&k=200",
    "user_id=u&k=1&k=7",  # the last value counts
    "user_id=u&k=1_0",
    "",
    "user_id=",
    "user_id=%20%20",
    "user_id=" + "x" * 257,
    "user_id=a%00b",
    "user_id=u&k=0",
    "user_id=u&k=201",
    "user_id=u&k=-3",
    "user_id=u&k=ten",
    "user_id=u&k=1.5",
    "user_id=u&k=" + "9" * 1001,
    "user_id=u&surface=%20",
    "user_id=u&surface=" + "s" * 101,
    "user_id=u&device=" + "d" * 51,
    "user_id=u&session_depth=-1",
    "user_id=u&session_depth=100001",
    "user_id=u&session_depth=x",
    "k=0&session_depth=x",
    "user_id=u&unknown=1",
    "user_id=u&offset=20",
    "user_id=u&offset=&k=5",
    "user_id=u&offset=-1",
    "user_id=u&offset=1001",
    "user_id=u&offset=x",
]


def _messages(error: serializers.ValidationError) -> dict[str, list[str]]:
    return {field: [str(m) for m in messages] for field, messages in error.detail.items()}


def _drf(data: QueryDict):
    """What DRF's generic field-by-field validation answers for the declared fields."""
    reference = RecommendationQuerySerializer()
    try:
        return "ok", dict(serializers.Serializer.to_internal_value(reference, data))
    except serializers.ValidationError as error:
        return "error", _messages(error)


def _fast(data: QueryDict):
    try:
        return "ok", RecommendationQuerySerializer().to_internal_value(data)
    except serializers.ValidationError as error:
        return "error", _messages(error)


@pytest.mark.parametrize("query", CASES)
def test_the_same_values_and_errors_as_drf(query):
    data = QueryDict(query)
    expected, fast = _drf(data), _fast(data)
    if expected[0] == "ok":
        assert fast == expected
    else:
        assert fast[0] == "error" and fast[1].keys() == expected[1].keys()
        for field, messages in fast[1].items():
            assert messages[0] in expected[1][field], (field, messages, expected[1][field])
