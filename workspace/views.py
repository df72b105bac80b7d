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

from experiments import selectors as experiment_selectors
from experiments import services
from experiments.audit import describe_changes
from experiments.models import Experiment
from recommenders.serving.preview import preview_lists
from recommenders.serving.web import InvalidRequest
from workspace.forms import ExperimentCreateForm, ExperimentEditForm
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


def _plan(form: ExperimentCreateForm) -> tuple[str, int | None]:
    """The required size for the form's values (no write), and users per variant."""
    fields = form.experiment_fields()
    # The primary metric's options (one-sided, winsorised, quantile) shape the plan.
    draft = Experiment(**fields)
    try:
        estimate = experiment_selectors.power_estimate(draft, variants=len(form.variants()))
    except ValueError as error:
        return f"not available: {error}", None
    return estimate.describe(), estimate.per_variant


@staff_member_required
@require_http_methods(["GET", "POST"])
def experiment_create(request: HttpRequest) -> HttpResponse:
    """A draft experiment, A/B or interleaving, from the form; "Check the plan" re-renders with
    an A/B experiment's sizes only."""
    if not request.user.has_perm("experiments.add_experiment"):
        raise PermissionDenied("creating experiments needs the experiment owner role")
    # GET parameters prefill the form (links such as the off-policy page's "A/B test it")
    initial = request.GET.dict() if request.method == "GET" else None
    form = ExperimentCreateForm(request.POST or None, initial=initial)
    plan = None
    if request.method == "POST" and form.is_valid():
        # an interleaving experiment has no A/B power plan (its sign test needs none)
        plan, per_variant = (None, None) if form.is_interleaving else _plan(form)
        if "create" in request.POST:
            fields = form.experiment_fields()
            if fields.get("planned_sample_size", 0) is None:
                fields["planned_sample_size"] = per_variant
            try:
                experiment = services.do_create_experiment(
                    key=form.cleaned_data["key"],
                    name=form.cleaned_data["name"],
                    variants=form.variants(),
                    actor=request.user,
                    owner=request.user,
                    guardrail_metrics=form.cleaned_data["guardrail_metrics"],
                    secondary_metrics=form.cleaned_data["secondary_metrics"],
                    **fields,
                )
            except ValidationError as error:
                _attach_errors(form, error)
            else:
                messages.success(request, f"{experiment.key}: draft created")
                return redirect("experiment-workspace", key=experiment.key)
    status = 400 if request.method == "POST" and form.errors else 200
    context = {"form": form, "plan": plan}
    return render(request, "workspace/experiment_form.html", context, status=status)


@staff_member_required
@require_http_methods(["GET", "POST"])
def experiment_edit(request: HttpRequest, key: str) -> HttpResponse:
    """The creation form over a stored experiment, saved through ``do_edit_experiment``.

    A save that changes a running or paused experiment's allocation (coverage, weights) opens
    the next phase with a new seed: the form says so first and saves only once confirmed.
    """
    if not request.user.has_perm("experiments.change_experiment"):
        raise PermissionDenied("changing experiments needs the experiment owner role")
    experiment = _editable(key)
    form = ExperimentEditForm(experiment, request.POST or None)
    context: dict = {"form": form, "experiment": experiment, "editing": True, "plan": None}
    if request.method == "POST" and form.is_valid():
        if not experiment.is_interleaving:
            context["plan"], _ = _plan(form)
        fields = form.experiment_fields()
        new_phase = services.allocation_changes(experiment, fields, form.weights())
        confirmed = "confirm_new_phase" in request.POST
        if new_phase and not confirmed and "save" in request.POST:
            context["new_phase"] = describe_changes(new_phase)
        elif "save" in request.POST or confirmed:
            try:
                edit = services.do_edit_experiment(
                    experiment,
                    request.user,
                    fields=fields,
                    variants=form.variants(),
                    guardrail_metrics=form.cleaned_data["guardrail_metrics"],
                    secondary_metrics=form.cleaned_data["secondary_metrics"],
                )
            except ValidationError as error:
                _attach_errors(form, error)
            else:
                started = f", phase {edit.new_phase} started" if edit.new_phase else ""
                messages.success(request, f"{key}: changes saved{started}")
                return redirect("experiment-workspace", key=edit.experiment.key)
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, "workspace/experiment_form.html", context, status=status)


def _editable(key: str) -> Experiment:
    try:
        return Experiment.objects.prefetch_related(
            "variants", "guardrail_metrics", "secondary_metrics"
        ).get(key=key)
    except Experiment.DoesNotExist:
        raise Http404(f"no experiment with key {key!r}") from None


def _attach_errors(form: ExperimentCreateForm, error: ValidationError) -> None:
    """Service errors beside the field they name (variants' errors beside the first row)."""
    field_of = {
        "coverage": "coverage_percent",
        "variants": "variant_0_key",
        "recommender_config": "variant_0_config",
        "baseline_rate": "baseline_percent",
        "mde_relative": "mde_percent",
    }
    for name, problems in getattr(error, "message_dict", {"__all__": error.messages}).items():
        field = field_of.get(name, name)
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@staff_member_required
def experiment_try(request: HttpRequest, key: str) -> HttpResponse:
    """ "Try it": the list each variant would serve a given user, side by side."""
    workspace = _workspace(key)
    user_id = request.GET.get("user_id", "").strip()
    context: dict = {"w": workspace, "user_id": user_id, "previews": [], "error": ""}
    variants = [v for v in workspace.experiment.variants.all() if v.recommender_config]
    if user_id:
        try:
            previews = preview_lists(
                [v.recommender_config for v in variants],
                user_id,
                k=_int(request.GET.get("k"), 10),
                surface=workspace.experiment.surface or "home",
            )
        except InvalidRequest as error:
            context["error"] = f"{error.field}: {error}"
        else:
            context["previews"] = list(zip(variants, previews, strict=True))
    context["no_configs"] = not variants
    return render(request, "workspace/try.html", context, status=400 if context["error"] else 200)


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return -1  # refused by the preview with a message naming k
