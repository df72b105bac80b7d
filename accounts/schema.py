"""OpenAPI post-processing: what every API operation may answer, and the scope it needs.

drf-spectacular documents what a view declares; the answers that the framework gives for
any operation (401 without a key, 403 outside the key's scopes, 429 over the rate limit,
400 for a query string or body that is not valid JSON or UTF-8, 404 for an unknown object in
the path, 415 for a body that is not JSON) are added here once, and each operation's
description names its scope (:mod:`accounts.scopes`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from accounts.scopes import ENDPOINT_SCOPES, scopes_for

__all__ = ["document_common_answers"]

ERROR = {
    "type": "object",
    "additionalProperties": True,
    "description": "`detail`, or field name -> list of messages",
}


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


COMMON = {
    "400": _answer("invalid input (the body names the field or the problem)"),
    "401": _answer("no or an invalid API key (`Authorization: Token <key>`)"),
    "403": _answer("the API key lacks the scope this operation needs (named)"),
    "429": _answer("over the client's rate limit for this scope; retry after `Retry-After` s"),
}
PUBLIC = {"400": COMMON["400"]}

# Every text a client sends is refused with a NUL character (DRF's CharField does, and
# PostgreSQL's text and jsonb cannot hold one): request strings say so.
NO_NUL_PATTERN = r"^[^\x00]*$"


# Request bodies whose serializers refuse unknown fields (web.serializers.Strict*):
# the schema says so, so a body with an extra field is not "schema-valid".
CLOSED_BODIES = re.compile(r"^/api/v1/(experiments|layers|holdouts|metrics|recommender-configs)")


def _close_request_body(result: dict, operation: dict) -> None:
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        component = result.get("components", {}).get("schemas", {}).get(name)
        if component is not None:
            component["additionalProperties"] = False


def _refuse_nul(schema: Any) -> None:
    """Give every plain string of a request schema (at any depth) the no-NUL pattern."""
    if isinstance(schema, list):
        for item in schema:
            _refuse_nul(item)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    is_text = kind == "string" or (isinstance(kind, list) and "string" in kind)
    if is_text and not {"enum", "format", "pattern", "const"} & set(schema):
        schema["pattern"] = NO_NUL_PATTERN
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for child in value.values():
                _refuse_nul(child)
        elif key in ("items", "additionalProperties", "propertyNames", "allOf", "anyOf", "oneOf"):
            _refuse_nul(value)


def _require_body_when_empty_is_invalid(result: dict, operation: dict) -> None:
    """A body whose schema refuses ``{}`` (required fields, at least one of several) is
    required: a request without one is read as ``{}`` and refused."""
    body = operation.get("requestBody")
    if not body or body.get("required"):
        return
    components = result.get("components", {}).get("schemas", {})
    for media in body.get("content", {}).values():
        name = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        component = components.get(name, {})
        if component.get("required") or component.get("anyOf"):
            body["required"] = True


def _refuse_nul_in_requests(result: dict) -> None:
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _refuse_nul(component)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", []):
                    _refuse_nul(parameter.get("schema"))
                for media in operation.get("requestBody", {}).get("content", {}).values():
                    _refuse_nul(media.get("schema"))


def _fresh_event_timestamps(operation: dict) -> None:
    """Event examples carry the time the schema was generated: a fixed date falls outside
    the accepted window, so the docs' "Try it out" of the example was always refused."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    for media in operation.get("requestBody", {}).get("content", {}).values():
        for example in media.get("examples", {}).values():
            value = example.get("value")
            events = value.get("events", []) if isinstance(value, dict) else []
            for event in events:
                if isinstance(event, dict) and "timestamp" in event:
                    event["timestamp"] = now


def document_common_answers(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry."""
    _refuse_nul_in_requests(result)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if path == "/api/v1/events":
                _fresh_event_timestamps(operation)
            _require_body_when_empty_is_invalid(result, operation)
            if CLOSED_BODIES.match(path):
                _close_request_body(result, operation)
            is_public = not path.startswith("/api/v1/")
            for status, answer in (PUBLIC if is_public else COMMON).items():
                responses.setdefault(status, answer)
            if "{" in path:
                responses.setdefault("404", _answer("no such object (named in the body)"))
            if "requestBody" in operation:
                responses.setdefault("415", _answer("the body is not `application/json`"))
            if not is_public:
                name = path.removeprefix("/api/v1/")
                scopes = _scopes_of(name, method)
                note = f"Scope: {' or '.join(scopes) if scopes else 'any API key'}."
                operation["description"] = (
                    operation.get("description", "") + "\n\n" + note
                ).strip()
    return result


def _scopes_of(path: str, method: str) -> list[str]:
    from django.urls import Resolver404, resolve

    concrete = path
    for token in ("{key}", "{name}", "{user_id}", "{version_id}"):
        concrete = concrete.replace(token, "1" if token == "{version_id}" else "x")
    try:
        match = resolve("/api/v1/" + concrete)
    except Resolver404:
        return []
    view = getattr(match.func, "view_class", None)
    declared = getattr(view, "required_scopes", None)
    if declared is None:
        declared = ENDPOINT_SCOPES.get(match.url_name or "")
    return sorted(scopes_for(declared, method.upper()))
