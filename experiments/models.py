"""Experiments as their owners define them: metrics, layers, the holdout, variants, phases.

Writes go through :mod:`experiments.services` (lifecycle rules, phases, the audit log); reads
that the hot path needs go through :mod:`assignment.config_cache`, which watches
:class:`ConfigVersion` so that admin changes reach every process within a few seconds.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from experiments.segments import SegmentError, check_segment_attributes

__all__ = [
    "AuditLogEntry",
    "ConfigVersion",
    "Experiment",
    "ExperimentPhase",
    "Holdout",
    "Layer",
    "MetricDefinition",
    "Variant",
]

HOLDOUT_MAX_SHARE = 0.10


def validate_segment_attributes(value: object) -> None:
    """The model's check of ``Experiment.segment_attributes`` (rules in experiments.segments)."""
    try:
        check_segment_attributes(value)
    except SegmentError as error:
        raise ValidationError(str(error)) from None


class MetricDefinition(models.Model):
    """A metric that reports compute per variant; ``statistic`` follows from ``kind``."""

    class Kind(models.TextChoices):
        CTR = "ctr", "CTR: clicks / impressions per user (ratio)"
        CLICK_THROUGH_USERS = (
            "click_through_users",
            "Click-through users: share of exposed users with a click",
        )
        WATCH_TIME = "watch_time", "Watch time: mean seconds watched per user"
        CONVERSION_RATE = "conversion_rate", "Conversion rate: share of users who converted"
        SESSION_ABANDONMENT = (
            "session_abandonment",
            "Session abandonment: sessions ended without an interaction / sessions",
        )
        TIME_TO_FIRST_INTERACTION = (
            "time_to_first_interaction",
            "Time to first interaction: mean seconds",
        )
        WATCH_TIME_QUANTILE = (
            "watch_time_quantile",
            "Watch time quantile: seconds watched per user, at the quantile level",
        )
        TIME_TO_FIRST_INTERACTION_QUANTILE = (
            "time_to_first_interaction_quantile",
            "Time to first interaction quantile: a user's mean seconds, at the quantile level",
        )

    class Statistic(models.TextChoices):
        RATIO = "ratio", "ratio (delta method)"
        PROPORTION = "proportion", "proportion"
        MEAN = "mean", "mean"
        QUANTILE = "quantile", "quantile of per-user values"

    class TestSides(models.TextChoices):
        TWO_SIDED = "two-sided", "two-sided: a change either way"
        ONE_SIDED = "one-sided", "one-sided: only an improvement (in the better direction)"

    # Kinds whose per-user values are amounts that winsorisation can cap.
    WINSORIZABLE_KINDS = frozenset({Kind.WATCH_TIME})

    STATISTIC_OF_KIND: dict[str, str] = {
        Kind.CTR: Statistic.RATIO,
        Kind.CLICK_THROUGH_USERS: Statistic.PROPORTION,
        Kind.WATCH_TIME: Statistic.MEAN,
        Kind.CONVERSION_RATE: Statistic.PROPORTION,
        Kind.SESSION_ABANDONMENT: Statistic.RATIO,
        Kind.TIME_TO_FIRST_INTERACTION: Statistic.MEAN,
        Kind.WATCH_TIME_QUANTILE: Statistic.QUANTILE,
        Kind.TIME_TO_FIRST_INTERACTION_QUANTILE: Statistic.QUANTILE,
    }

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    statistic = models.CharField(
        max_length=20,
        choices=Statistic.choices,
        editable=False,
        help_text="derived from the kind",
    )
    higher_is_better = models.BooleanField(default=True)
    is_guardrail = models.BooleanField(default=False)
    noninferiority_margin = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="largest tolerated degradation (guardrails); relative or absolute, see below",
    )
    margin_is_relative = models.BooleanField(
        default=True, help_text="margin as a share of the control's value (0.02 = 2%)"
    )
    quantile_level = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01), MaxValueValidator(0.99)],
        help_text="quantile kinds only: the level of the per-user values compared "
        "(0.5 median, 0.9 p90), from 0.01 to 0.99",
    )
    # Analysis options (the report says which ones it applied).
    test_sides = models.CharField(
        max_length=10,
        choices=TestSides.choices,
        default=TestSides.TWO_SIDED,
        help_text="one-sided: more power, but a change in the worse direction is never "
        "significant (fixed and sequential tests alike); guardrails are always one-sided",
    )
    winsorize_percentile = models.FloatField(
        null=True,
        blank=True,
        help_text="cap each user's value at this percentile of both groups' users pooled, "
        "before the test (0.99 caps the top 1%); empty: no capping. Per-user amounts only "
        "(watch time)",
    )
    planning_log_sd = models.FloatField(
        null=True,
        blank=True,
        help_text="planning only: the standard deviation of log(per-user value) from past data "
        "(watch time: about 1 to 1.5); the experiment's required sample size then plans a mean, "
        "winsorised mean or quantile metric on log-normal values, as it is tested. Empty: "
        "planned as a rate from the experiment's baseline",
    )
    informative_prior = models.BooleanField(
        default=False,
        help_text="Bayesian analysis with a Gaussian prior on the relative effect "
        "(mean and standard deviation below) instead of the flat prior",
    )
    prior_mean = models.FloatField(
        default=0.0, help_text="prior mean of the relative effect (0.01 = +1%)"
    )
    prior_stddev = models.FloatField(
        default=0.3,
        help_text="prior standard deviation of the relative effect (0.3: GrowthBook's default)",
    )

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Keeping the derived column in step with its source is bookkeeping, not business logic.
        self.statistic = self.STATISTIC_OF_KIND[self.kind]
        super().save(*args, **kwargs)

    @property
    def alternative(self) -> str:
        """The test's alternative: ``two-sided``, or one-sided towards the better direction
        (``larger`` when higher is better, else ``smaller``)."""
        if self.test_sides == self.TestSides.TWO_SIDED:
            return "two-sided"
        return "larger" if self.higher_is_better else "smaller"

    def clean(self) -> None:
        """The analysis options must make sense for the metric, and a quantile kind needs its
        level while other kinds take none (a field-named error each)."""
        errors: dict[str, str] = {}
        for name in ("winsorize_percentile", "prior_mean", "prior_stddev", "planning_log_sd"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                errors[name] = "must be a finite number"
        p = self.winsorize_percentile
        if p is not None and "winsorize_percentile" not in errors:
            if not 0.5 < p < 1:
                errors["winsorize_percentile"] = "must lie strictly between 0.5 and 1 (0.99)"
            elif self.kind not in self.WINSORIZABLE_KINDS:
                allowed = ", ".join(sorted(self.WINSORIZABLE_KINDS))
                errors["winsorize_percentile"] = (
                    f"winsorisation caps per-user amounts; {self.kind!r} is not one "
                    f"(allowed: {allowed})"
                )
        # A relative effect beyond +-1000% is no prior belief; the bounds also keep the
        # posterior's arithmetic finite.
        stddev, mean = self.prior_stddev, self.prior_mean
        if "prior_stddev" not in errors and stddev is not None and not 0 < stddev <= 10:
            errors["prior_stddev"] = "must lie in (0, 10] (a relative effect's spread)"
        if "prior_mean" not in errors and mean is not None and abs(mean) > 10:
            errors["prior_mean"] = "must lie within [-10, 10] (a relative effect)"
        sd = self.planning_log_sd
        if "planning_log_sd" not in errors and sd is not None and not 0 < sd <= 10:
            errors["planning_log_sd"] = "must lie in (0, 10] (the sd of log values, e.g. 1.2)"
        is_quantile = self.STATISTIC_OF_KIND.get(self.kind) == self.Statistic.QUANTILE
        if is_quantile and self.quantile_level is None:
            errors["quantile_level"] = "required for a quantile kind (e.g. 0.5)"
        if not is_quantile and self.quantile_level is not None:
            errors["quantile_level"] = "only quantile kinds take a level"
        if errors:
            raise ValidationError(errors)


class Layer(models.Model):
    """A namespace: experiments in one layer own disjoint ranges of [0, 1)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    seed = models.CharField(
        max_length=200,
        blank=True,
        help_text="hashing seed of positions in the layer; drawn at creation, never changed",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_seed(self) -> str:
        """The seed of users' positions in this layer: ``seed``, or the name when none drawn."""
        return self.seed or self.name


class Holdout(models.Model):
    """The global permanent holdout: ``share`` of all users see no experiment, ever.

    At most one holdout is active. Its seed never changes once created, so membership depends
    only on (seed, user id) and never on the experiments around it.
    """

    name = models.CharField(max_length=100, unique=True)
    share = models.FloatField(
        default=0.02,
        validators=[MinValueValidator(0.0), MaxValueValidator(HOLDOUT_MAX_SHARE)],
        help_text="share of all users held out, 0 to 0.10 (typically 0.01 to 0.05)",
    )
    seed = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="experiments_one_active_holdout",
            ),
            models.CheckConstraint(
                condition=models.Q(share__gte=0.0) & models.Q(share__lte=HOLDOUT_MAX_SHARE),
                name="experiments_holdout_share_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.share:.1%})"


class Experiment(models.Model):
    """An A/B(/n) or interleaving experiment; traffic allocation lives in its current phase
    while running.

    ``kind``: ``ab`` splits users between the variants; ``interleaving`` shows every user in
    the experiment one list merged (team draft) from the 2 to 4 variants' recommender
    configurations and credits each click to the variant that contributed the item. Both share
    holdout, layers, coverage, targeting and the minimum runtime; users outside an
    interleaving experiment get the control's configuration, as with A/B.
    """

    class Kind(models.TextChoices):
        AB = "ab", "A/B(/n): each user sees one variant"
        INTERLEAVING = "interleaving", "interleaving: each user sees the variants merged"

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        RUNNING = "running", "running"
        PAUSED = "paused", "paused"
        STOPPED = "stopped", "stopped"
        CONCLUDED = "concluded", "concluded"

    class HashVersion(models.IntegerChoices):
        V1 = 1, "v1 (GrowthBook legacy; correlated across similar seeds)"
        V2 = 2, "v2 (recommended)"

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    kind = models.CharField(
        max_length=20,
        choices=Kind.choices,
        default=Kind.AB,
        help_text="interleaving: 2 to 4 variants, each bound to a recommender configuration",
    )
    interleaving_aa = models.BooleanField(
        default=False,
        help_text="interleaving A/A: the variants may share one recommender configuration "
        "(a check of the method; refused otherwise)",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="experiments",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    concluded_at = models.DateTimeField(null=True, blank=True)

    hash_seed = models.CharField(
        max_length=200,
        blank=True,
        help_text="hashing seed; drawn at creation as the key plus a random suffix",
    )
    hash_version = models.PositiveSmallIntegerField(
        choices=HashVersion.choices, default=HashVersion.V2
    )
    coverage = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="share of eligible users who enter, 0 to 1",
    )
    layer = models.ForeignKey(
        Layer, null=True, blank=True, on_delete=models.PROTECT, related_name="experiments"
    )
    layer_start = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    layer_end = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    targeting = models.JSONField(
        default=dict,
        blank=True,
        help_text='conditions on user attributes, e.g. {"country": "US", '
        '"platform": ["ios", "android"]}',
    )
    qa_overrides = models.JSONField(
        default=dict, blank=True, help_text='user id -> variant key, e.g. {"qa-1": "treatment"}'
    )
    segment_attributes = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_segment_attributes],
        help_text="user attributes to break results down by, kept from each user's first "
        'exposure, e.g. ["device", "country"] (at most 5; "new_vs_returning" is always '
        "available); exploratory, fixed once started",
    )
    min_runtime_days = models.PositiveIntegerField(
        default=7, help_text="committed before start; results are preliminary until then"
    )
    planned_sample_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="users per variant the owner plans to collect"
    )
    daily_traffic = models.PositiveIntegerField(
        null=True, blank=True, help_text="eligible users per day (for the runtime estimate)"
    )
    baseline_rate = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="expected control value of the primary metric (a proportion) for power",
    )
    mde_relative = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0)],
        help_text="minimum detectable effect relative to the baseline (0.05 = 5%)",
    )
    alpha = models.FloatField(
        default=0.05, validators=[MinValueValidator(1e-6), MaxValueValidator(0.5)]
    )
    power = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.5), MaxValueValidator(0.9999)]
    )
    surface = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        help_text='recommendation surface this experiment runs on, e.g. "home"',
    )
    sequential_testing = models.BooleanField(
        default=False, help_text="reports use always-valid sequential p-values"
    )
    primary_metric = models.ForeignKey(
        MetricDefinition,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="primary_for",
    )
    guardrail_metrics = models.ManyToManyField(
        MetricDefinition, blank=True, related_name="guardrail_for"
    )
    secondary_metrics = models.ManyToManyField(
        MetricDefinition, blank=True, related_name="secondary_for"
    )
    current_phase = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "key"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coverage__gte=0.0) & models.Q(coverage__lte=1.0),
                name="experiments_coverage_range",
            ),
            models.CheckConstraint(
                condition=models.Q(layer_start__gte=0.0)
                & models.Q(layer_end__lte=1.0)
                & models.Q(layer_start__lte=models.F("layer_end")),
                name="experiments_layer_range",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def effective_seed(self) -> str:
        """The seed hashed with user ids: ``hash_seed``, or the key when none was drawn."""
        return self.hash_seed or self.key

    @property
    def is_interleaving(self) -> bool:
        return self.kind == self.Kind.INTERLEAVING


class ExperimentPhase(models.Model):
    """One period of fixed traffic allocation; a change while running starts a new phase."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveIntegerField()
    seed = models.CharField(max_length=200)
    coverage = models.FloatField()
    weights = models.JSONField(default=dict, help_text="variant key -> weight")
    layer_start = models.FloatField(default=0.0)
    layer_end = models.FloatField(default=1.0)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["experiment", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "number"], name="experiments_phase_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key} phase {self.number}"


class Variant(models.Model):
    """An arm of an experiment, bound to the recommender configuration it serves."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)])
    is_control = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="order of the bucket ranges (control first by convention)"
    )
    recommender_config = models.ForeignKey(
        "recommenders.RecommenderConfig",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="variants",
    )

    class Meta:
        ordering = ["experiment", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "key"], name="experiments_variant_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key}:{self.key}"


class AuditLogEntry(models.Model):
    """Who changed what, when: every lifecycle action and every edit of an experiment."""

    who = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="experiment_audit_entries",
    )
    who_name = models.CharField(max_length=150, blank=True, help_text="username at the time")
    when = models.DateTimeField(auto_now_add=True, db_index=True)
    experiment = models.ForeignKey(
        Experiment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    object_repr = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=50)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-when", "-id"]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.when:%Y-%m-%d %H:%M} {self.who_name or '-'} {self.action} {self.object_repr}"


class ConfigVersion(models.Model):
    """A single counter row bumped on every change that can alter assignment.

    Processes cache the running experiments and compare this counter at most every few
    seconds (``SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS``) instead of querying per request.
    """

    version = models.BigIntegerField(default=0)
    # A random token changes with every bump: a rolled-back bump can repeat a version number
    # (a process that saw it would then miss the next change), never a token.
    token = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"config version {self.version}"
