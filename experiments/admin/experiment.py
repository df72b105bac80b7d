"""Admin of experiments: inline variants, validation, lifecycle actions, phases, audit log.

Rules live in :mod:`experiments.services`; this module turns their errors into form messages
and records what changed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from experiments import selectors, services
from experiments.admin.common import messages_of, plain
from experiments.audit import describe
from experiments.models import (
    Experiment,
    ExperimentPhase,
    Variant,
)
from experiments.targeting import TargetingError, validate_targeting

Status = Experiment.Status
V1_WARNING = (
    "Hash v1 is kept for compatibility only: its buckets are strongly correlated between "
    "experiments with similar seeds. It may run only inside a layer that keeps its users "
    "apart from every other running experiment."
)


# --- experiments -----------------------------------------------------------------------------


def variant_changes(formsets: Any) -> dict[str, Any]:
    """The variants an admin save added, changed or deleted, for the audit log."""
    changes: dict[str, Any] = {}
    for formset in formsets:
        for variant in getattr(formset, "new_objects", []):
            changes[f"variant {variant.key}"] = ["(new)", {"weight": variant.weight}]
        for variant, fields in getattr(formset, "changed_objects", []):
            changes[f"variant {variant.key}"] = {f: plain(getattr(variant, f)) for f in fields}
        for variant in getattr(formset, "deleted_objects", []):
            changes[f"variant {variant.key}"] = ["deleted", None]
    return changes


class ExperimentForm(forms.ModelForm):
    """Validation of the experiment change form; its fields are the editable ones of
    ``ExperimentAdmin.fieldsets`` (the admin builds the form class from them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:  # a form that leaves it out makes an A/B experiment
            self.fields["kind"].required = False

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or Experiment.Kind.AB

    def clean_targeting(self) -> Any:
        value = self.cleaned_data.get("targeting") or {}
        try:
            return validate_targeting(value)
        except TargetingError as error:
            raise ValidationError(str(error)) from None

    def clean_qa_overrides(self) -> Any:
        value = self.cleaned_data.get("qa_overrides") or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValidationError('expected an object of user id -> variant key, e.g. {"u1": "b"}')
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        instance = self.instance
        if instance.pk and instance.status != Status.DRAFT and "key" in self.changed_data:
            self.add_error("key", "the key cannot change once the experiment has started")
        status = instance.status if instance.pk else Status.DRAFT
        coverage = data.get("coverage")
        start, end = data.get("layer_start"), data.get("layer_end")
        if status in services.ACTIVE_STATUSES and None not in (coverage, start, end):
            try:
                services.check_allocation(
                    coverage, data.get("layer"), start, end, exclude_experiment_id=instance.pk
                )
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, problems)
        if status in (Status.RUNNING, Status.PAUSED) and data.get("hash_version") == 1:
            probe = Experiment(
                pk=instance.pk, key=instance.key, hash_version=1, layer=data.get("layer")
            )
            try:
                services.check_hash_version(probe)
            except ValidationError as error:
                self.add_error("hash_version", error.message_dict["hash_version"])
        return data


class VariantFormSet(BaseInlineFormSet):
    """At least two variants, unique keys, positive weights, one control; no variants added
    or removed while the experiment runs; QA overrides must name variants."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept, added, removed = [], 0, 0
        for form in self.forms:
            if not form.has_changed() and not form.instance.pk:
                continue
            data = form.cleaned_data
            if data.get("DELETE"):
                removed += bool(form.instance.pk)
                continue
            added += not form.instance.pk
            kept.append(
                {
                    "key": data.get("key"),
                    "weight": data.get("weight"),
                    "is_control": data.get("is_control"),
                    "recommender_config": data.get("recommender_config"),
                }
            )
        experiment = self.instance
        try:
            services.check_variants(kept)
            services.check_interleaving(experiment.kind, experiment.interleaving_aa, kept)
        except ValidationError as error:
            raise ValidationError(messages_of(error)) from None
        if experiment.pk and experiment.status != Status.DRAFT and (added or removed):
            raise ValidationError(
                "variants cannot be added or removed once the experiment has started; "
                "stop it and create a new experiment"
            )
        keys = {v["key"] for v in kept}
        for user_id, key in (experiment.qa_overrides or {}).items():
            if key not in keys:
                raise ValidationError(
                    f"QA override for user {user_id!r} names unknown variant {key!r}"
                )


class VariantInline(admin.TabularInline):
    model = Variant
    formset = VariantFormSet
    extra = 2
    fields = ("position", "key", "name", "weight", "is_control", "recommender_config")
    ordering = ("position", "id")


class PhaseInline(admin.TabularInline):
    model = ExperimentPhase
    extra = 0
    can_delete = False
    fields = (
        "number",
        "seed",
        "coverage",
        "weights",
        "layer_start",
        "layer_end",
        "started_at",
        "ended_at",
        "reason",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    inlines = [VariantInline, PhaseInline]
    list_display = (
        "key",
        "name",
        "kind",
        "status",
        "surface",
        "layer",
        "coverage",
        "current_phase",
        "started_at",
        "owner",
    )
    list_filter = ("status", "kind", "layer", "surface")
    search_fields = ("key", "name", "hypothesis")
    filter_horizontal = ("guardrail_metrics", "secondary_metrics")
    actions = [
        "start_selected",
        "pause_selected",
        "resume_selected",
        "stop_selected",
        "conclude_selected",
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "key",
                    "name",
                    "hypothesis",
                    "owner",
                    "kind",
                    "interleaving_aa",
                    "surface",
                    "status",
                    "current_phase",
                    "started_at",
                    "stopped_at",
                    "concluded_at",
                    "results_status",
                    "workspace_link",
                )
            },
        ),
        (
            "Traffic allocation",
            {
                "description": "While the experiment runs, changing these starts a new phase "
                "with a new seed (users are re-randomised); it is recorded.",
                "fields": (
                    "hash_seed",
                    "hash_version",
                    "coverage",
                    "layer",
                    "layer_start",
                    "layer_end",
                    "targeting",
                    "qa_overrides",
                ),
            },
        ),
        (
            "Metrics and power",
            {
                "fields": (
                    "primary_metric",
                    "guardrail_metrics",
                    "secondary_metrics",
                    "segment_attributes",
                    "sequential_testing",
                    "baseline_rate",
                    "mde_relative",
                    "alpha",
                    "power",
                    "daily_traffic",
                    "planned_sample_size",
                    "min_runtime_days",
                    "power_analysis",
                )
            },
        ),
        ("Audit log", {"fields": ("audit_trail",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fixed = (
            "status",
            "current_phase",
            "started_at",
            "stopped_at",
            "concluded_at",
            "power_analysis",
            "audit_trail",
            "results_status",
            "workspace_link",
        )
        if obj is not None and obj.status != Status.DRAFT:
            fixed += ("key", "kind", "interleaving_aa", "min_runtime_days", "segment_attributes")
        if obj is not None and obj.status in (Status.STOPPED, Status.CONCLUDED):
            fixed += ("hash_seed", "hash_version", "coverage", "layer", "layer_start", "layer_end")
        return fixed

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description="required sample size and runtime")
    def power_analysis(self, obj: Experiment) -> str:
        if obj is None or obj.pk is None:
            return "save the draft to see the sample size and runtime"
        try:
            return selectors.power_estimate(obj).describe()
        except (ValueError, ImportError, AttributeError) as error:
            return f"not available: {error}"

    @admin.display(description="results")
    def results_status(self, obj: Experiment) -> str:
        if obj is None or obj.pk is None or obj.started_at is None:
            return "not started"
        until = selectors.preliminary_until(obj)
        if selectors.is_preliminary(obj):
            return f"preliminary until {until:%Y-%m-%d %H:%M} UTC (minimum runtime)"
        return "minimum runtime reached"

    @admin.display(description="audit log")
    def audit_trail(self, obj: Experiment) -> str:
        if obj is None or obj.pk is None:
            return "-"
        entries = selectors.audit_log(obj)[:50]
        if not entries:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} UTC: {}</li>",
                ((f"{e.when:%Y-%m-%d %H:%M}", describe(e)) for e in entries),
            ),
        )

    @admin.display(description="workspace")
    def workspace_link(self, obj: Experiment) -> str:
        if obj is None or obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Open the experiment page</a> · <a href="{}">Report</a>',
            reverse("experiment-workspace", args=[obj.key]),
            reverse("experiment-report", args=[obj.key]),
        )

    # -- saving ------------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Experiment, form: Any, change: bool) -> None:
        # Stored with its variants in save_related, through services.do_save_experiment.
        if obj.hash_version == 1:
            messages.warning(request, V1_WARNING)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        def write(experiment: Experiment) -> dict[str, Any]:
            super(ExperimentAdmin, self).save_model(request, experiment, form, change)
            super(ExperimentAdmin, self).save_related(request, form, formsets, change)
            return variant_changes(formsets)

        changes = {
            name: [plain(form.initial.get(name)), plain(form.cleaned_data.get(name))]
            for name in form.changed_data
        }
        edit = services.do_save_experiment(
            form.instance, request.user, changes=changes, write=write
        )
        if edit.new_phase is not None:
            messages.info(
                request,
                f"{edit.experiment.key}: allocation changed, phase {edit.new_phase} started"
                + (" with a new seed" if edit.reseeded else ""),
            )

    # -- actions -----------------------------------------------------------------------------

    def _run(self, request: HttpRequest, queryset: Any, do: Any, verb: str) -> None:
        done = []
        for experiment in queryset:
            try:
                with transaction.atomic():
                    do(experiment, request.user)
                done.append(experiment.key)
            except ValidationError as error:
                self.message_user(
                    request, f"{experiment.key}: " + "; ".join(messages_of(error)), messages.ERROR
                )
        if done:
            self.message_user(request, f"{verb}: {', '.join(done)}", messages.SUCCESS)

    @admin.action(description="Start selected draft experiments")
    def start_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(request, queryset, services.do_start_experiment, "started")

    @admin.action(description="Pause selected running experiments")
    def pause_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(request, queryset, services.do_pause_experiment, "paused")

    @admin.action(description="Resume selected paused experiments")
    def resume_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(request, queryset, services.do_resume_experiment, "resumed")

    @admin.action(description="Stop selected experiments")
    def stop_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(request, queryset, services.do_stop_experiment, "stopped")

    @admin.action(description="Conclude selected stopped experiments")
    def conclude_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(request, queryset, services.do_conclude_experiment, "concluded")
