"""API clients (a user without a password, with scopes and rate limits) and their keys.

A key is shown once, when it is issued; the database keeps only its SHA-256 digest. The key
holds 160 random bits, so a digest cannot be reversed by search and no slow password hash is
needed (a slow hash would cost every API request its time).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.scopes import ALL_SCOPES

__all__ = ["ApiClient", "ApiKey", "ReportAccess"]


def _all_scopes() -> list[str]:
    return list(ALL_SCOPES)


class ApiClient(models.Model):
    """An application calling the API: what it may call (scopes) and how fast (limits)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_client"
    )
    name = models.CharField(max_length=100, unique=True)
    scopes = models.JSONField(default=_all_scopes, help_text=f"any of {', '.join(ALL_SCOPES)}")
    rate_limits = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'per scope, overriding SPLITLAB_THROTTLE_RATES: {"serve": {"rate": 200, '
            '"burst": 400}} (requests per second, bucket size)'
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API client"

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """One key of a client. Several are valid at once during a rotation's overlap."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=8, help_text="first characters, to tell keys apart")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, hex")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client.name}: {self.prefix}…"

    def is_valid_at(self, when: object = None) -> bool:
        now = when or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or self.expires_at > now


class ReportAccess(models.Model):
    """No table: holds the permission to read reports (``accounts.view_reports``), which the
    analyst role and every role above it carry and report pages and results require."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can read experiment reports and results")]

    def __str__(self) -> str:
        return "report access"
