"""Recommender configurations (what a variant runs), their model versions and serving state.

A :class:`RecommenderConfig` names an algorithm with its hyperparameters and business rules;
the offline pipeline (``recommenders.services.training``) turns it into
:class:`ModelVersion` rows, each with a folder of artifacts. At most one version per
configuration is ``active``: that is the one serving workers keep warm. The precomputed
top-N lists of a version (:class:`PrecomputedList`) answer requests when a worker misses the
deadline; :class:`ServingCounter` counts requests and fallbacks across processes.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from recommenders.core.served_exploration import ExplorationSettings

__all__ = ["ModelVersion", "PrecomputedList", "RecommenderConfig", "ServingCounter"]

POPULAR_LIST_USER = ""  # PrecomputedList.user_external_id of a version's popular list


class RecommenderConfig(models.Model):
    """A named recommender: an algorithm or pipeline with its hyperparameters and rules."""

    class Algorithm(models.TextChoices):
        POPULAR = "popular", "popular: most interacted items"
        TRENDING = "trending", "trending: time-decayed popularity"
        USER_CF = "user_cf", "user-based collaborative filtering"
        ITEM_CF = "item_cf", "item-based collaborative filtering"
        ALS = "als", "ALS matrix factorisation (implicit feedback)"
        SGD_MF = "sgd_mf", "SGD matrix factorisation (ratings)"
        CONTENT = "content", "content-based (categories, text, attributes)"
        EASE = "ease", "EASE linear autoencoder"
        TWO_TOWER = "two_tower", "two-tower retrieval"
        PIPELINE = "pipeline", "two-tower + sources + ranking + rules pipeline"

    class ExplorationMode(models.TextChoices):
        OFF = "off", "off: sorted lists (propensity 1)"
        PLACKETT_LUCE = "plackett_luce", "Plackett-Luce sampling over the ranked pool"
        EPSILON_GREEDY = "epsilon_greedy", "epsilon-greedy: swap one adjacent pair"

    name = models.SlugField(max_length=100, unique=True)
    algorithm = models.CharField(max_length=50, choices=Algorithm.choices)
    params = models.JSONField(default=dict, blank=True, help_text="hyperparameters")
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text='business rules, e.g. {"max_per_category": 3, "blocked_items": ["42"], '
        '"blocked_categories": ["Horror"]}',
    )
    description = models.TextField(blank=True)
    is_default = models.BooleanField(
        default=False,
        help_text="serves every surface on which no experiment is running (at most one)",
    )
    evaluation_k = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    promotion_metric = models.CharField(
        max_length=40, default="ndcg", help_text="offline metric the promotion gate compares"
    )
    promotion_tolerance = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="a new version is promoted automatically unless its metric is worse than "
        "the active one's by more than this share (0.02 = 2%)",
    )
    auto_promote = models.BooleanField(
        default=True, help_text="promote a version that passes the gate without a person"
    )
    holdout_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="evaluate on the last N days of the data window (temporal split); "
        "empty: leave-last-out per user",
    )
    data_window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="train on the last N days of interactions; empty: all"
    )
    fallback_top_n = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(200)],
        help_text="length of the precomputed list stored per active user for fallbacks",
    )
    retrain_schedule = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recommender_config",
        help_text="the Celery beat entry that retrains this configuration",
    )
    exploration_mode = models.CharField(
        max_length=20,
        choices=ExplorationMode.choices,
        default=ExplorationMode.OFF,
        help_text="sample the served list instead of sorting it, logging each item's "
        "propensity for off-policy evaluation",
    )
    exploration_temperature = models.FloatField(
        default=1.0, help_text="Plackett-Luce temperature, in units of the ranker's score"
    )
    exploration_epsilon = models.FloatField(
        default=0.1, help_text="epsilon-greedy: probability of swapping one adjacent pair"
    )
    exploration_pool = models.PositiveSmallIntegerField(
        default=50, help_text="Plackett-Luce: how many ranked items the list is drawn from"
    )
    exploration_budget = models.FloatField(
        default=0.005,
        help_text="largest expected loss in true CTR (clicks per impression) the owner "
        "accepts for exploring; checked against the active version's estimate",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="recommenders_one_default_config",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.algorithm})"

    def clean(self) -> None:
        """Field-named errors for exploration settings out of range."""
        super().clean()
        try:
            self.exploration_settings()
        except ValueError as error:
            name, _, message = str(error).partition(": ")
            raise ValidationError({name: message}) from error
        if not (math.isfinite(self.exploration_budget) and self.exploration_budget >= 0):
            raise ValidationError({"exploration_budget": "must be a number >= 0"})

    def exploration_settings(self) -> ExplorationSettings:
        """The exploration policy (raises ``ValueError`` naming a field out of range)."""
        return ExplorationSettings(
            self.exploration_mode,
            self.exploration_temperature,
            self.exploration_epsilon,
            self.exploration_pool,
        )


class ModelVersion(models.Model):
    """One training of a configuration: its data window, metrics, artifacts and lifecycle."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        TRAINING = "training"
        EVALUATING = "evaluating"
        READY = "ready"
        ACTIVE = "active"
        FAILED = "failed"
        RETIRED = "retired"

    class Stage(models.TextChoices):
        QUEUED = "queued"
        SNAPSHOT = "snapshot"
        TRAIN = "train"
        EVALUATE = "evaluate"
        BUILD = "build"
        REGISTER = "register"
        PROMOTE = "promote"
        DONE = "done"

    RUNNING_STATUSES = (Status.QUEUED, Status.TRAINING, Status.EVALUATING)

    config = models.ForeignKey(RecommenderConfig, on_delete=models.CASCADE, related_name="versions")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)]
    )
    trigger = models.CharField(
        max_length=20, default="manual", help_text="manual, admin, schedule, command, api"
    )
    algorithm = models.CharField(max_length=50, help_text="the config's algorithm at training")
    params = models.JSONField(default=dict, blank=True, help_text="the params it was fitted with")
    data_window_start = models.DateTimeField(null=True, blank=True)
    data_window_end = models.DateTimeField(null=True, blank=True)
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_interactions = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text="offline metrics, held out")
    gate_decision = models.TextField(blank=True, help_text="why it was or was not promoted")
    artifact_path = models.CharField(max_length=500, blank=True)
    fit_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    previous_version = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the version that was active before this one (rollback target)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["config"],
                condition=models.Q(status="active"),
                name="recommenders_one_active_version",
            )
        ]
        indexes = [models.Index(fields=["config", "status"], name="rec_version_cfg_status_idx")]

    def __str__(self) -> str:
        return f"{self.config.name} v{self.pk} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING_STATUSES


class PrecomputedList(models.Model):
    """A version's top-N for one user, read when the online path misses its deadline.

    The row with an empty ``user_external_id`` is the version's popular list, for users
    who have no row of their own.
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="precomputed_lists"
    )
    user_external_id = models.CharField(max_length=64, blank=True)
    item_ids = models.JSONField(default=list, help_text="item external ids, best first")
    scores = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "user_external_id"], name="rec_precomputed_unique"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.model_version_id} {self.user_external_id or '(popular)'}"


class ServingCounter(models.Model):
    """A monotonic counter shared by every web process (requests, fallbacks by reason)."""

    name = models.CharField(max_length=100, unique=True)
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
