"""The catalogue and what users did with it: items, user profiles and interactions.

External ids are the ids of the systems the data comes from (MovieLens ids, a shop's SKUs,
a client's user ids); the API and the loaders speak them, the models' integer keys stay
internal. Interactions are unique per (user, item, kind, timestamp), so a reload of the
same file inserts nothing twice.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["Interaction", "Item", "UserProfile"]

EXTERNAL_ID_MAX_LENGTH = 64


class Item(models.Model):
    """Something that can be recommended: a film, a product, an article."""

    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, unique=True)
    title = models.CharField(max_length=500, blank=True)
    categories = models.JSONField(
        default=list, blank=True, help_text='list of category names, e.g. ["Comedy", "Drama"]'
    )
    text = models.TextField(blank=True, help_text="free text: description, synopsis")
    year = models.SmallIntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True, help_text='numeric attributes by name, e.g. {"runtime": 97}'
    )
    creator = models.CharField(max_length=200, blank=True, help_text="author, studio, seller")
    is_blocked = models.BooleanField(
        default=False, help_text="content policy: never recommended while set"
    )
    created_at = models.DateTimeField(default=timezone.now, help_text="release or listing time")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], name="rec_item_created_idx")]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.title}" if self.title else self.external_id


class UserProfile(models.Model):
    """An end user of the product being experimented on (not a Django login)."""

    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, unique=True)
    age_band = models.CharField(max_length=16, blank=True, help_text='e.g. "25-34"')
    gender = models.CharField(max_length=16, blank=True)
    occupation = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=64, blank=True, help_text="region or postcode prefix")
    signup_context = models.JSONField(
        default=dict, blank=True, help_text='{"surface": "ios", "campaign": "spring"}'
    )
    preferences = models.JSONField(
        default=dict,
        blank=True,
        help_text='stated at onboarding: {"categories": [...], "items": [...]}',
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.external_id


class Interaction(models.Model):
    """One thing a user did with an item, at a time, with a strength (rating, seconds, 1)."""

    class Kind(models.TextChoices):
        VIEW = "view"
        CLICK = "click"
        RATING = "rating"
        PURCHASE = "purchase"
        WATCH = "watch"

    # No foreign-key constraints in the database (db_constraint=False): checking them costs
    # half the time of a bulk load (two deferred trigger lookups per row; measured on
    # ML-1M, 575k rows), and the one writer of this table, the bulk loader, resolves
    # both keys from their tables in the same transaction. Deletion still cascades
    # (Django's collector does it, not the database); readers skip keys they cannot
    # resolve. The (user, timestamp) index and the unique constraint both lead with
    # user: no separate index for the user key.
    user = models.ForeignKey(
        UserProfile,
        on_delete=models.CASCADE,
        related_name="interactions",
        db_index=False,
        db_constraint=False,
    )
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="interactions", db_constraint=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VIEW)
    value = models.FloatField(default=1.0, help_text="rating, watch seconds, quantity or 1")
    timestamp = models.DateTimeField()

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [
            models.Index(fields=["user", "timestamp"], name="rec_inter_user_ts_idx"),
            models.Index(fields=["timestamp"], name="rec_inter_ts_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "item", "kind", "timestamp"], name="rec_inter_unique_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.item_id} @ {self.timestamp:%Y-%m-%d %H:%M}"
