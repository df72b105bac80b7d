"""Admin of layers, the holdout, metric definitions and the (read-only) audit log."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from experiments import services
from experiments.admin.common import plain
from experiments.models import (
    AuditLogEntry,
    Holdout,
    Layer,
    MetricDefinition,
)

# --- layers, holdout, metrics, audit log ---------------------------------------------------


class SeededAuditedAdmin(admin.ModelAdmin):
    """Draws a new object's hashing seed, and records every save in the audit log as
    ``create_<kind>`` / ``change_<kind>``."""

    audit_kind: ClassVar[str]

    def seed_label(self, obj: Any) -> str:
        return self.audit_kind

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.seed = services.draw_seed(self.seed_label(obj))
        super().save_model(request, obj, form, change)
        services.record_audit(
            request.user,
            f"{'change' if change else 'create'}_{self.audit_kind}",
            object_repr=f"{self.audit_kind} {obj.name}",
            changes={f: plain(form.cleaned_data.get(f)) for f in form.changed_data},
        )


@admin.register(Layer)
class LayerAdmin(SeededAuditedAdmin):
    audit_kind = "layer"
    list_display = ("name", "description", "created_at")
    readonly_fields = ("seed", "created_at", "ranges")

    @admin.display(description="experiments and their ranges")
    def ranges(self, obj: Layer) -> str:
        if obj is None or obj.pk is None:
            return "-"
        rows = obj.experiments.filter(status__in=services.ACTIVE_STATUSES).order_by("layer_start")
        return ", ".join(f"{e.key} [{e.layer_start}, {e.layer_end})" for e in rows) or "-"

    def seed_label(self, obj: Layer) -> str:
        return f"layer-{obj.name}"


class HoldoutForm(forms.ModelForm):
    class Meta:
        model = Holdout
        fields = ("name", "share", "is_active")

    def clean_share(self) -> float:
        share = self.cleaned_data.get("share")
        try:
            services.check_holdout_share(share)
        except ValidationError as error:
            raise ValidationError(error.message_dict["share"]) from None
        return share

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("is_active"):
            others = Holdout.objects.filter(is_active=True).exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error("is_active", "another holdout is active; end it first")
        if self.instance.pk and not self.instance.is_active and data.get("is_active"):
            self.add_error("is_active", "an ended holdout cannot be reactivated; create a new one")
        return data


@admin.register(Holdout)
class HoldoutAdmin(SeededAuditedAdmin):
    audit_kind = "holdout"
    form = HoldoutForm
    list_display = ("name", "share", "is_active", "created_at")
    readonly_fields = ("seed", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Share and seed never change: membership must not move while the holdout exists.
        return ("seed", "created_at") + (("share",) if obj is not None else ())


@admin.register(MetricDefinition)
class MetricDefinitionAdmin(admin.ModelAdmin):
    list_display = (
        "key",
        "name",
        "kind",
        "statistic",
        "higher_is_better",
        "is_guardrail",
        "noninferiority_margin",
        "margin_is_relative",
        "quantile_level",
        "test_sides",
        "winsorize_percentile",
        "informative_prior",
    )
    list_filter = ("kind", "is_guardrail")
    readonly_fields = ("statistic",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "key", "name", "description", "kind", "statistic", "higher_is_better",
                    "is_guardrail", "noninferiority_margin", "margin_is_relative",
                )
            },
        ),
        (
            "Analysis options",
            {
                "description": "Off by default; the report says which ones it applied.",
                "fields": (
                    "test_sides", "winsorize_percentile", "informative_prior", "prior_mean",
                    "prior_stddev", "planning_log_sd",
                ),
            },
        ),
    )  # fmt: skip


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    list_display = ("when", "who_name", "action", "object_repr", "experiment")
    list_filter = ("action",)
    search_fields = ("object_repr", "who_name", "experiment__key")
    readonly_fields = ("who", "who_name", "when", "experiment", "object_repr", "action", "changes")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
