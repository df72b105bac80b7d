"""Admin of analytics: events and served lists (read-only), rollup state."""

from __future__ import annotations

from django.contrib import admin

from analytics.models import Event, RollupState, ServedList


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the platform: browsable, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "user_id", "ts", "experiment_key", "variant_key")
    list_filter = ("type",)
    search_fields = ("=event_id", "=user_id", "=request_id")
    date_hierarchy = None
    show_full_result_count = False  # counting a large append-only table on each page is slow


@admin.register(ServedList)
class ServedListAdmin(ReadOnlyAdmin):
    list_display = ("request_id", "user_id", "experiment_key", "variant_key", "model_version")
    search_fields = ("=request_id", "=user_id")
    show_full_result_count = False


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdmin):
    list_display = ("name", "events_received_until", "last_run_at", "last_duration_seconds")
