"""The scopes an API client may hold, and which scope each API endpoint needs.

``serve``: what an app holds (assignments, recommendations, events, preferences);
``analyze``: statistics, experiment results, serving metrics; ``manage``: experiments, their
lifecycle, layers, holdouts, metric definitions and recommender configurations; ``models``:
training, promotion, rollback and model versions.

Endpoints declare their scope here, by URL name, so that one table shows who may call what
(and the schema can print it). A view may also declare ``required_scopes`` itself: a set of
scopes any one of which suffices, or a mapping from HTTP method to such a set. An API
endpoint that declares nothing needs ``manage``: a client app's ``serve`` key must never reach
an endpoint someone forgot to list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "ALL_SCOPES",
    "ENDPOINT_SCOPES",
    "FALLBACK_SCOPES",
    "READ_METHODS",
    "parse_scopes",
    "scopes_for",
]

ALL_SCOPES: tuple[str, ...] = ("serve", "analyze", "manage", "models")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FALLBACK_SCOPES = frozenset({"manage"})

_SERVE = frozenset({"serve"})
_ANALYZE = frozenset({"analyze"})
_MANAGE = frozenset({"manage"})
_MODELS = frozenset({"models"})
_READ_ANALYZE_OR_MANAGE = frozenset({"analyze", "manage"})
_READ_MODELS_OR_MANAGE = frozenset({"models", "manage", "analyze"})

# URL name (in the "api" namespace) -> scopes, or {method: scopes}; an empty set: any client.
ENDPOINT_SCOPES: Mapping[str, frozenset[str] | Mapping[str, frozenset[str]]] = {
    "ping": frozenset(),
    "assignments": _SERVE,
    "assignments-batch": _SERVE,
    "recommendations": _SERVE,
    "user-preferences": _SERVE,
    "events": _SERVE,
    "exposures": _SERVE,
    "stats-sample-size": _ANALYZE,
    "stats-analyze": _ANALYZE,
    "recommendations-metrics": _ANALYZE,
    "experiment-results": _ANALYZE,
    "recommender-config-train": _MODELS,
    "recommender-config-rollback": _MODELS,
    "model-version": {"GET": _READ_MODELS_OR_MANAGE, "*": _MODELS},
    "model-version-promote": _MODELS,
    **{
        name: {"GET": _READ_ANALYZE_OR_MANAGE, "*": _MANAGE}
        for name in (
            "experiment-list",
            "experiment-detail",
            "layer-list",
            "holdout-list",
            "metric-list",
            "recommender-config-list",
        )
    },
    **{
        f"experiment-{action}": _MANAGE
        for action in ("start", "pause", "resume", "stop", "conclude")
    },
}


def scopes_for(
    declared: frozenset[str] | Mapping[str, frozenset[str]] | None, method: str
) -> frozenset[str]:
    """The scopes (any one suffices) that a call with ``method`` needs, given a declaration."""
    if declared is None:
        return FALLBACK_SCOPES
    if isinstance(declared, Mapping):
        key = "GET" if method in READ_METHODS else method
        return declared.get(key, declared.get("*", FALLBACK_SCOPES))
    return declared


def parse_scopes(values: Iterable[str]) -> list[str]:
    """The scopes named in ``values`` (comma or space separated), in canonical order.

    Raises ``ValueError`` naming every unknown scope and listing the known ones.
    """
    names = {part.strip().lower() for value in values for part in value.replace(",", " ").split()}
    unknown = sorted(names - set(ALL_SCOPES))
    if unknown:
        raise ValueError(
            f"scopes: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(ALL_SCOPES)}"
        )
    if not names:
        raise ValueError(f"scopes: name at least one of {', '.join(ALL_SCOPES)}")
    return [scope for scope in ALL_SCOPES if scope in names]
