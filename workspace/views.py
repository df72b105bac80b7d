"""The workspace pages (staff): the home page and each experiment's page and actions.

Views stay thin: a selector reads, a service from :mod:`experiments.services` writes, and a
refused action is shown with the service's own message, naming the rule that refused it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from experiments import services
from experiments.models import Experiment
from workspace.selectors import ACTIONS, experiment_workspace, home_rows

_SERVICES = {
    "start": services.do_start_experiment,
    "pause": services.do_pause_experiment,
    "resume": services.do_resume_experiment,
    "stop": services.do_stop_experiment,
    "conclude": services.do_conclude_experiment,
}


@staff_member_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "workspace/home.html", home_rows())


def _workspace(key: str):
    try:
        return experiment_workspace(key)
    except Experiment.DoesNotExist:
        raise Http404(f"no experiment with key {key!r}") from None


@staff_member_required
def experiment_page(request: HttpRequest, key: str) -> HttpResponse:
    workspace = _workspace(key)
    can_change = request.user.has_perm("experiments.change_experiment")
    return render(request, "workspace/experiment.html", {"w": workspace, "can_change": can_change})


def _errors(error: ValidationError) -> list[str]:
    if hasattr(error, "message_dict"):
        return [m for messages_ in error.message_dict.values() for m in messages_]
    return list(error.messages)


@staff_member_required
@require_http_methods(["GET", "POST"])
def experiment_action(request: HttpRequest, key: str, action: str) -> HttpResponse:
    """GET: what ``action`` will do, to confirm. POST: do it through the lifecycle service."""
    if action not in ACTIONS:
        raise Http404(f"unknown action {action!r}")
    if not request.user.has_perm("experiments.change_experiment"):
        raise PermissionDenied("changing experiments needs the experiment owner role")
    workspace = _workspace(key)
    context = {"w": workspace, "action": action, "spec": ACTIONS[action], "errors": []}
    if request.method == "GET":
        return render(request, "workspace/confirm.html", context)
    kwargs = {}
    if action == "conclude":
        kwargs["override_reason"] = request.POST.get("override_reason", "")
    try:
        _SERVICES[action](workspace.experiment, request.user, **kwargs)
    except ValidationError as error:
        context["errors"] = _errors(error)
        return render(request, "workspace/confirm.html", context, status=400)
    messages.success(request, f"{key}: {ACTIONS[action]['label'].lower()} done")
    return redirect("experiment-workspace", key=key)
