"""The API's JSON body parsing: what DRF's parser lets through as a 500, answered 400.

Kept apart from :mod:`web.api`: DRF imports the parser classes named in its settings while
``rest_framework.views`` is still loading.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

# A JSON escape of a UTF-16 surrogate; in a pair it is a character beyond the BMP.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_from_body(raw: bytes, encoding: str = "utf-8", *, constants: bool = False) -> Any:
    """The JSON value of a request body, or a :class:`ParseError` a client can act on.

    Besides malformed JSON, a 400 for: bytes that are not text in ``encoding``, nesting
    deeper than the decoder's recursion limit, and strings holding an unpaired surrogate (a
    lone ``"\\ud800"`` escape: valid JSON syntax but not Unicode text, so no database, hash or
    renderer can encode it). ``constants``: accept ``NaN`` and ``Infinity`` (not JSON).
    """
    try:
        data = json.loads(
            raw.decode(encoding), parse_constant=None if constants else strict_constant
        )
    except RecursionError:
        raise ParseError("JSON parse error - nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise ParseError(f"JSON parse error - {exc}") from None
    # Only a body with a surrogate escape can hold a lone one (in UTF-8: no scan otherwise).
    if encoding.replace("-", "").lower() != "utf8" or _SURROGATE_ESCAPE.search(raw):
        where = path_of_lone_surrogate(data)
        if where is not None:
            raise ParseError(f"{where}: not Unicode text (an unpaired surrogate escape)")
    return data


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_of_lone_surrogate(data: Any) -> str | None:
    """Where in ``data`` a string (or key) with an unpaired surrogate is, e.g.
    ``users[0].user_id``; None when there is none. Iterative: the value may be nested close to
    the recursion limit."""
    stack: list[tuple[str, Any]] = [("body", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not _is_text(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _is_text(key):
                    return f"{where} (a key)"
                stack.append((key if where == "body" else f"{where}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the checks of :func:`json_from_body` (the API's default)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = stream.read() if stream is not None else b""
        encoding = parsers.get_encoding(parser_context or {})
        return json_from_body(raw, encoding, constants=not self.strict)
