"""web.parsers: JSON bodies DRF's parser would let through as a 500 are a 400."""

from __future__ import annotations

import re

import pytest
from rest_framework.exceptions import ParseError

from web.parsers import json_from_body, path_of_lone_surrogate


def test_a_valid_body_with_escaped_characters_beyond_the_bmp_is_parsed():
    assert json_from_body(b'{"name": "\\ud83d\\ude00", "x": [1]}') == {
        "name": "\U0001f600",
        "x": [1],
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"users": [{"user_id": "\\ud800"}]}', "users[0].user_id: not Unicode text"),
        (b'{"a\\udfff": 1}', "body (a key): not Unicode text"),
        (b'["x", "\\uDBFF"]', "body[1]: not Unicode text"),
        (b"[" * 100_000, "nested too deeply"),
        (b"[" * 5_000 + b"]" * 5_000, "nested too deeply"),
        (b'{"x": "\xed\xa0\x80"}', "JSON parse error"),  # a surrogate as raw (invalid) UTF-8
        (b'{"x": NaN}', "JSON parse error"),
    ],
)
def test_bodies_that_are_not_json_text_are_parse_errors(raw, message):
    with pytest.raises(ParseError, match=re.escape(message)):
        json_from_body(raw)


def test_constants_are_accepted_on_request():
    assert json_from_body(b"[NaN]", constants=True)[0] != 0


def test_a_utf16_body_is_checked_too():
    raw = '{"id": "\\ud800"}'.encode("utf-16")
    with pytest.raises(ParseError, match="id: not Unicode text"):
        json_from_body(raw, "utf-16")


def test_no_lone_surrogate_is_none():
    assert path_of_lone_surrogate({"a": ["b", {"c": "\U0001f600"}]}) is None
