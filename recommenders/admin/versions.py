"""Admin for recommender configurations and model versions.

Configurations: train now, roll back one step, set a daily retrain schedule (an editable
django-celery-beat entry). Versions: a progress bar with stage and percent for running
ones, offline metrics, and promote / roll back actions. Serving counters (requests and
fallbacks by reason) are listed read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from recommenders.models import ModelVersion, RecommenderConfig, ServingCounter
from recommenders.selectors.exploration import exploration_cost_estimate
from recommenders.services import training


def _progress_bar(version: ModelVersion) -> str:
    colour = {"failed": "#ba2121", "active": "#2e7d32"}.get(version.status, "#417690")
    return format_html(
        '<div style="width:140px;background:#eee;border-radius:3px" title="{}">'
        '<div style="width:{}%;background:{};color:#fff;font-size:11px;padding:1px 4px;'
        'white-space:nowrap;border-radius:3px">{}%</div></div><small>{}</small>',
        version.error or version.gate_decision,
        version.progress_percent,
        colour,
        version.progress_percent,
        version.stage,
    )


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("id", "status", "progress", "ndcg", "fit_seconds", "created_at", "activated_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, version: ModelVersion) -> str:
        return _progress_bar(version)

    @admin.display(description="metric")
    def ndcg(self, version: ModelVersion) -> str:
        metric = version.config.promotion_metric
        value = version.metrics.get(metric)
        return "-" if value is None else f"{metric} {value:.4f}"


@admin.register(RecommenderConfig)
class RecommenderConfigAdmin(admin.ModelAdmin):
    list_display = (
        "name", "algorithm", "is_default", "active_version", "exploration_mode",
        "retrain_schedule",
    )  # fmt: skip
    list_filter = ("algorithm", "is_default", "exploration_mode")
    search_fields = ("name", "description")
    readonly_fields = ("exploration_cost", "created_at", "updated_at")
    inlines = [ModelVersionInline]
    actions = ("train_now", "rollback", "schedule_daily_retrain")

    @admin.display(description="active version")
    def active_version(self, config: RecommenderConfig) -> str:
        active = config.versions.filter(status=ModelVersion.Status.ACTIVE).first()
        return f"v{active.pk}" if active else "-"

    @admin.display(description="expected cost of exploring")
    def exploration_cost(self, config: RecommenderConfig) -> str:
        """The saved settings' expected loss in CTR against the budget (selector's docstring
        for how it is estimated)."""
        if config.pk is None or config.exploration_mode == config.ExplorationMode.OFF:
            return "none (exploration off)"
        estimate = exploration_cost_estimate(config)
        if estimate is None:
            return "not computable (no active version with offline precision and lists)"
        verdict = "within" if estimate.within_budget else "OVER"
        return (
            f"{estimate.loss_ctr:.5f} CTR per impression ({verdict} the budget "
            f"{estimate.budget_ctr:.5f}; v{estimate.version_id}, {estimate.n_lists} lists)"
        )

    def save_model(
        self, request: HttpRequest, obj: RecommenderConfig, form: object, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        estimate = exploration_cost_estimate(obj) if obj.exploration_mode != "off" else None
        if estimate is not None and not estimate.within_budget:
            self.message_user(
                request,
                f"{obj.name}: exploring is expected to cost {estimate.loss_ctr:.5f} CTR per "
                f"impression, over the exploration_budget {estimate.budget_ctr:.5f}: lower "
                "the temperature, epsilon or pool, or raise the budget",
                messages.WARNING,
            )

    @admin.action(description="Train now")
    def train_now(self, request: HttpRequest, queryset: QuerySet[RecommenderConfig]) -> None:
        for config in queryset:
            version = training.do_start_training(config, trigger="admin")
            self.message_user(request, f"{config.name}: version {version.pk} {version.status}")

    @admin.action(description="Roll back to the previous version")
    def rollback(self, request: HttpRequest, queryset: QuerySet[RecommenderConfig]) -> None:
        for config in queryset:
            try:
                version = training.do_rollback_config(config)
            except training.PromotionError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, f"{config.name}: v{version.pk} is active again")

    @admin.action(description="Retrain daily at 03:00 UTC (editable under Periodic tasks)")
    def schedule_daily_retrain(
        self, request: HttpRequest, queryset: QuerySet[RecommenderConfig]
    ) -> None:
        for config in queryset:
            training.do_set_retrain_schedule(config, crontab="0 3 * * *")
            self.message_user(request, f"{config.name}: retrained daily at 03:00 UTC")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "config", "status", "progress", "metric", "fit_seconds", "created_at")
    list_filter = ("status", "config")
    list_select_related = ("config",)
    actions = ("promote", "rollback")
    readonly_fields = [f.name for f in ModelVersion._meta.fields] + ["progress"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from the training pipeline

    @admin.display(description="progress")
    def progress(self, version: ModelVersion) -> str:
        return _progress_bar(version)

    @admin.display(description="offline metric")
    def metric(self, version: ModelVersion) -> str:
        name = version.config.promotion_metric
        value = version.metrics.get(name)
        return "-" if value is None else f"{name} {value:.4f}"

    @admin.action(description="Promote (make active)")
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset.select_related("config"):
            try:
                training.do_promote_model_version(version, reason=f"admin {request.user}")
            except training.PromotionError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, f"{version.config.name}: v{version.pk} is active")

    @admin.action(description="Roll back their configurations one step")
    def rollback(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        configs = {version.config for version in queryset.select_related("config")}
        for config in configs:
            try:
                version = training.do_rollback_config(config)
            except training.PromotionError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, f"{config.name}: v{version.pk} is active again")


@admin.register(ServingCounter)
class ServingCounterAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "updated_at")
    readonly_fields = ("name", "value", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
