"""Admin for the catalogue and interactions.

Interactions run to millions of rows: their list joins user and item in the same query
(``list_select_related``), uses raw-id widgets instead of select boxes, skips the
exact count of filtered rows (``show_full_result_count``) and has no date drill-down
(its distinct-dates query scans the table).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recommenders.models import Interaction, Item, UserProfile


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("external_id", "title", "year", "price", "creator", "is_blocked", "created_at")
    list_filter = ("is_blocked", "year")
    search_fields = ("external_id", "title", "creator")
    list_editable = ("is_blocked",)
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ("block_items", "unblock_items")

    @admin.action(description="Block the selected items (content policy)")
    def block_items(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        count = queryset.update(is_blocked=True)
        self.message_user(request, f"{count} item(s) blocked.")

    @admin.action(description="Unblock the selected items")
    def unblock_items(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        count = queryset.update(is_blocked=False)
        self.message_user(request, f"{count} item(s) unblocked.")


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("external_id", "age_band", "gender", "occupation", "region", "created_at")
    list_filter = ("age_band", "gender", "occupation")
    search_fields = ("external_id", "region")
    readonly_fields = ("created_at",)
    list_per_page = 50


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "user", "item", "kind", "value")
    list_filter = ("kind",)
    list_select_related = ("user", "item")
    search_fields = ("user__external_id", "item__external_id", "item__title")
    raw_id_fields = ("user", "item")
    show_full_result_count = False
    list_per_page = 100
