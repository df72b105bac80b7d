"""Recommender configurations (what a variant runs) and their model versions."""

from django.db import models

__all__ = ["RecommenderConfig"]


class RecommenderConfig(models.Model):
    """A named recommender: an algorithm or pipeline with its hyperparameters and rules."""

    name = models.SlugField(max_length=100, unique=True)
    algorithm = models.CharField(max_length=50, help_text="e.g. popular, item_cf, als, pipeline")
    params = models.JSONField(default=dict, blank=True, help_text="hyperparameters")
    rules = models.JSONField(default=dict, blank=True, help_text="business rules")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.algorithm})"
