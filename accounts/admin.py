"""API clients in the admin: scopes chosen at creation, a key shown once, rotation, revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiClient, ApiKey
from accounts.scopes import ALL_SCOPES
from accounts.services import (
    create_api_client,
    do_revoke_api_client,
    do_rotate_api_key,
)

ROTATION_OVERLAP = timedelta(hours=24)


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="serve: assignments, recommendations, events, preferences; analyze: "
        "statistics and results; manage: experiments; models: train, promote, roll back",
    )
    lifetime_days = forms.FloatField(
        required=False, min_value=0.001, help_text="the first key expires after this (optional)"
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "rate_limits"]


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ["prefix", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "scopes", "created_at"]
    search_fields = ["name"]
    inlines = [ApiKeyInline]
    actions = ["rotate_keys", "revoke_keys"]

    def get_fields(self, request: HttpRequest, obj: ApiClient | None = None) -> list[str]:
        fields = ["name", "scopes", "rate_limits"]
        return fields + ["lifetime_days"] if obj is None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiClient | None = None) -> list:
        return ["name"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        days = form.cleaned_data.get("lifetime_days")
        key, _ = create_api_client(
            obj.name,
            scopes=form.cleaned_data["scopes"],
            lifetime=timedelta(days=days) if days else None,
        )
        created = ApiClient.objects.get(name=obj.name)
        created.rate_limits = form.cleaned_data.get("rate_limits") or {}
        created.save(update_fields=["rate_limits"])
        obj.pk, obj.user_id = created.pk, created.user_id
        self._show_key(request, obj.name, key)

    @staticmethod
    def _show_key(request: HttpRequest, name: str, key: str) -> None:
        messages.warning(
            request,
            f"Key of {name}: {key} (shown only now; send it as 'Authorization: Token <key>')",
        )

    @admin.action(description="Rotate keys (old keys end after 24 hours)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            key, _ = do_rotate_api_key(client.name, overlap=ROTATION_OVERLAP)
            self._show_key(request, client.name, key)

    @admin.action(description="Revoke every key")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            do_revoke_api_client(client.name)
        self.message_user(request, "Revoked.", messages.SUCCESS)
