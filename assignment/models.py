"""What assignment records: first exposures to experiments and to the permanent holdout.

Rows are written in bulk by :mod:`assignment.exposure_log` (insert-if-absent), never one per
request; the unique constraints make a repeated write of the same first exposure a no-op.
"""

from __future__ import annotations

from django.db import models

__all__ = ["Exposure", "HoldoutExposure", "USER_ID_MAX_LENGTH"]

USER_ID_MAX_LENGTH = 256


class Exposure(models.Model):
    """The first time ``user_id`` was assigned into ``experiment`` during ``phase``, with the
    values of the experiment's segment attributes at that time (segment breakdowns)."""

    experiment = models.ForeignKey(
        "experiments.Experiment", on_delete=models.CASCADE, related_name="exposures"
    )
    phase = models.PositiveIntegerField()
    variant = models.ForeignKey(
        "experiments.Variant", on_delete=models.PROTECT, related_name="exposures"
    )
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    segments = models.JSONField(
        default=dict,
        blank=True,
        help_text="the experiment's segment attributes as sent with this first exposure "
        '(name -> value as text, e.g. {"device": "ios"}); bounded by experiments.segments',
    )
    first_exposed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "phase", "user_id"], name="assignment_exposure_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["experiment", "variant", "first_exposed_at"],
                name="assignment_exp_var_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.variant_id} (phase {self.phase})"


class HoldoutExposure(models.Model):
    """Every user evaluated against the holdout, in it or not, with the first time seen."""

    holdout = models.ForeignKey(
        "experiments.Holdout", on_delete=models.CASCADE, related_name="exposures"
    )
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    in_holdout = models.BooleanField()
    first_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["holdout", "user_id"], name="assignment_holdout_exposure_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["holdout", "in_holdout", "first_seen_at"],
                name="assignment_holdout_scan",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} holdout={self.in_holdout}"
