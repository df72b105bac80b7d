"""A small client of Splitlab's public REST API (standard library only, one connection per
thread, kept alive). Failures the simulator cannot act on become ``SimulationError`` naming
the parameter the user should change (``base-url``, ``token``, ``surface``, ``experiment``).
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit


class SimulationError(Exception):
    """Bad input or an unusable server: ``parameter: problem`` in one line."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


class ApiFailure(Exception):
    """A request that got no usable answer (network error or a 5xx): retry it."""


class SplitlabApi:
    """``GET``/``POST`` JSON against ``base_url`` with ``Authorization: Token <token>``."""

    def __init__(self, base_url: str, token: str, timeout_seconds: float = 15.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulationError("base-url", f"must be http(s)://host[:port], got {base_url!r}")
        if not token:
            # the README's form: a bare ``python manage.py`` has no Django or no secret key
            raise SimulationError(
                "token",
                'is required (make manage ARGS="create_api_client NAME --scopes serve analyze")',
            )
        self.base_url = base_url.rstrip("/")
        self._parts = parts
        self._prefix = parts.path.rstrip("/")
        self._headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.timeout_seconds = timeout_seconds
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self._parts.hostname, self._parts.port, timeout=self.timeout_seconds)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(
        self, method: str, path: str, *, body: Any = None, query: dict | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text). Raises ``ApiFailure`` on a network error."""
        url = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        payload = None if body is None else json.dumps(body).encode()
        for attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request(method, url, body=payload, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 1:
                    raise ApiFailure(f"{method} {path}: {exc}") from exc
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode(errors="replace")[:300]
        return response.status, data

    def _checked(self, method: str, path: str, **kwargs: Any) -> Any:
        status, data = self.request(method, path, **kwargs)
        if status in (401, 403):
            detail = data.get("detail") if isinstance(data, dict) else data
            raise SimulationError("token", f"refused by {path} ({status}: {detail})")
        if status >= 500:
            raise ApiFailure(f"{method} {path}: {status}")
        return status, data

    def check_access(self) -> None:
        """The server answers and the token is accepted (``/api/v1/ping``)."""
        try:
            self._checked("GET", "/api/v1/ping")
        except ApiFailure as exc:
            raise SimulationError("base-url", f"cannot reach {self.base_url} ({exc})") from exc

    def assign(self, user_id: str, attributes: dict, experiments: list[str]) -> list[dict]:
        status, data = self._checked(
            "POST",
            "/api/v1/assignments",
            body={"user_id": user_id, "attributes": attributes, "experiments": experiments},
        )
        if status == 404:
            raise SimulationError("experiment", f"unknown to the server ({data})")
        if status != 200:
            raise ApiFailure(f"assignments: {status} {data}")
        return data["assignments"]

    def recommend(self, user_id: str, surface: str, k: int, device: str = "") -> dict:
        query = {"user_id": user_id, "surface": surface, "k": k}
        if device:
            query["device"] = device
        status, data = self._checked("GET", "/api/v1/recommendations", query=query)
        if status == 400 and isinstance(data, dict) and "surface" in data:
            raise SimulationError("surface", f"refused by the server: {data['surface']}")
        if status != 200:
            raise ApiFailure(f"recommendations: {status} {data}")
        return data

    def send_events(self, events: list[dict]) -> dict:
        """POST a batch; returns ``{received, stored, duplicates, accepted, rejected}``."""
        status, data = self._checked("POST", "/api/v1/events", body={"events": events})
        if status not in (200, 400) or not isinstance(data, dict) or "stored" not in data:
            raise ApiFailure(f"events: {status} {str(data)[:200]}")
        return data

    def analyze(self, body: dict) -> dict:
        """The platform's analysis of one pair of per-arm sums (``/api/v1/stats/analyze``)."""
        status, data = self._checked("POST", "/api/v1/stats/analyze", body=body)
        if status != 200:
            raise ApiFailure(f"stats/analyze: {status} {str(data)[:200]}")
        return data
