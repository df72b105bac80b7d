"""Scope checks: the default permission of every API view.

An API key holds its client's scopes. A person signed in to the admin (session
authentication, e.g. the schema's "Try it out") holds the scopes that their groups'
permissions give (:func:`scopes_of_user`); a superuser holds all.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.scopes import ALL_SCOPES, ENDPOINT_SCOPES, scopes_for

__all__ = ["HasScope", "held_scopes", "required_scopes", "scopes_of_user"]

# Django permission -> the scope it grants a signed-in person.
SCOPE_PERMISSIONS = {
    "serve": "experiments.view_experiment",
    "analyze": "accounts.view_reports",
    "manage": "experiments.change_experiment",
    "models": "recommenders.change_modelversion",
}


def scopes_of_user(user: Any) -> frozenset[str]:
    if user.is_superuser:
        return frozenset(ALL_SCOPES)
    if not user.is_staff:
        return frozenset()
    return frozenset(scope for scope, perm in SCOPE_PERMISSIONS.items() if user.has_perm(perm))


def held_scopes(request: Request) -> frozenset[str]:
    """The scopes of the caller: its API key's client's, or the signed-in person's."""
    if isinstance(request.auth, ApiKey):
        return frozenset(request.auth.client.scopes)
    return scopes_of_user(request.user)


def required_scopes(request: Request, view: Any) -> frozenset[str]:
    """Any one of these scopes lets ``request`` through ``view`` (empty: no scope needed)."""
    declared = getattr(view, "required_scopes", None)
    if declared is None:
        match = request.resolver_match
        declared = ENDPOINT_SCOPES.get(match.url_name) if match is not None else None
    return scopes_for(declared, request.method or "GET")


class HasScope(BasePermission):
    """Authenticated, and holding a scope the endpoint needs; else 403 naming it.

    The scope that let the request through is left on ``request.splitlab_scope`` for the
    throttle (which runs after permissions).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        needed = required_scopes(request, view)
        held = held_scopes(request)
        if not needed:
            request.splitlab_scope = "any"
            return True
        granted = [scope for scope in ALL_SCOPES if scope in needed and scope in held]
        if granted:
            request.splitlab_scope = granted[0]
            return True
        names = " or ".join(repr(s) for s in ALL_SCOPES if s in needed)
        raise PermissionDenied(
            f"missing scope {names}: this client holds "
            f"{', '.join(sorted(held, key=ALL_SCOPES.index)) or 'no scope'}"
        )
