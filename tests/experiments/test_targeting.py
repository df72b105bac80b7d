"""Targeting conditions (pure): equality, membership, operators, validation messages."""

from __future__ import annotations

import pytest

from experiments.targeting import TargetingError, matches, validate_targeting

USER = {"country": "US", "platform": "ios", "user_type": "new", "age": 31, "beta": True}


@pytest.mark.parametrize(
    ("targeting", "expected"),
    [
        ({}, True),
        ({"country": "US"}, True),
        ({"country": "us"}, False),  # exact, case-sensitive
        ({"country": "DE"}, False),
        ({"platform": ["ios", "android"]}, True),
        ({"platform": ["web"]}, False),
        ({"country": "US", "platform": ["web"]}, False),  # every condition must hold
        ({"device": "phone"}, False),  # missing attribute equals nothing
        ({"device": {"$ne": "tv"}}, True),  # ... so it satisfies $ne and $nin
        ({"device": {"$nin": ["tv"]}}, True),
        ({"device": {"$in": ["phone"]}}, False),
        ({"country": {"$ne": "US"}}, False),
        ({"country": {"$in": ["US", "CA"], "$ne": "CA"}}, True),
        ({"user_type": {"$eq": "new"}}, True),
        ({"age": 31, "beta": True}, True),
        ({"age": "31"}, False),  # no type coercion
    ],
)
def test_matches(targeting, expected):
    assert validate_targeting(targeting) == targeting
    assert matches(targeting, USER) is expected


@pytest.mark.parametrize(
    ("targeting", "message"),
    [
        ("US", "expected an object"),
        ({"country": {"$regex": "U"}}, "country: unknown operator '$regex'"),
        ({"country": {"$in": "US"}}, "country.$in: expected a list"),
        ({"country": [["US"]]}, "country: expected a list of strings"),
        ({"country": None}, "country: expected a value"),
        ({"country": {}}, "country: expected a value"),
        ({"": "x"}, "non-empty strings"),
        ({"country": {"$eq": ["US"]}}, "country.$eq: expected a string"),
    ],
)
def test_validation_messages_name_the_attribute(targeting, message):
    with pytest.raises(TargetingError, match=message.replace("$", r"\$").replace(".", r"\.")):
        validate_targeting(targeting)
