"""Page access by role: report pages need the analyst permission, not just staff."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

REPORTS_PERMISSION = "accounts.view_reports"

__all__ = ["REPORTS_PERMISSION", "analyst_required"]


def analyst_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff signed in (else the admin's login page), holding ``accounts.view_reports``
    (the analyst role and those above it; a superuser holds every permission), else 403."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(REPORTS_PERMISSION):
            raise PermissionDenied(f"reports need the permission {REPORTS_PERMISSION}")
        return view(request, *args, **kwargs)

    return staff_member_required(checked)
