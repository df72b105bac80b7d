"""What clients report, what the platform served, and the rollups that reports read.

Writes go through :mod:`analytics.services` (ingestion in bulk, idempotent by ``event_id``;
rollups recomputed in SQL), reads through :mod:`analytics.selectors`.

Rollup rows carry plain integer keys (``scope``, ``scope_id``, ``arm_id``) instead of foreign
keys: one table serves experiments (scope ``experiment``, arm = variant id) and the permanent
holdout (scope ``holdout``, arm 1 = held out, 0 = everyone else), and the rollup SQL rewrites
whole slices of it without cascading through other apps' tables.
"""

from __future__ import annotations

from django.db import models

__all__ = [
    "Event",
    "EventType",
    "RollupScope",
    "RollupState",
    "ServedList",
    "UserDailyRollup",
    "ArmDailyStats",
    "ModelVersionDailyStats",
]

EVENT_ID_MAX_LENGTH = 128
USER_ID_MAX_LENGTH = 256
REQUEST_ID_MAX_LENGTH = 128


class EventType(models.TextChoices):
    IMPRESSION = "impression", "impression (a served list was shown)"
    CLICK = "click", "click on an item of a served list"
    WATCH = "watch", "watch (seconds of an item)"
    CONVERSION = "conversion", "conversion (with a value)"
    SESSION_START = "session_start", "session start"
    SESSION_END = "session_end", "session end"
    FIRST_INTERACTION = "first_interaction", "first interaction (seconds since session start)"


class Event(models.Model):
    """One thing a user did, as a client reported it; stored once per ``event_id``.

    ``value`` holds the number the type carries: seconds for ``watch`` and
    ``first_interaction``, the value of a ``conversion``. ``item_count`` is the length of an
    impression's list (the impressions it counts for CTR). The table is append-only; a BRIN
    index on ``ts`` (PostgreSQL) keeps time-window scans cheap at a tiny fraction of a B-tree's
    size (and one on ``received_at`` finds what arrived since the last rollup), and
    ``(user_id, ts)`` serves per-user recomputation.
    """

    # The client's idempotency key is the primary key: one unique index instead of two on
    # the hottest insert path in the system.
    event_id = models.CharField(max_length=EVENT_ID_MAX_LENGTH, primary_key=True)
    type = models.CharField(max_length=20, choices=EventType.choices)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    ts = models.DateTimeField(help_text="when it happened (client clock, UTC)")
    request_id = models.CharField(max_length=REQUEST_ID_MAX_LENGTH, blank=True, default="")
    session_id = models.CharField(max_length=128, blank=True, default="")
    item_id = models.CharField(max_length=256, blank=True, default="")
    position = models.IntegerField(null=True, blank=True)
    item_count = models.IntegerField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    surface = models.CharField(max_length=100, blank=True, default="")
    experiment_key = models.CharField(max_length=100, blank=True, default="")
    variant_key = models.CharField(max_length=100, blank=True, default="")
    items = models.JSONField(null=True, blank=True, help_text="impressions: [{item_id, position}]")
    attributes = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        # Time indexes (BRIN on ts and received_at in PostgreSQL) are made by migration 0002.
        indexes = [models.Index(fields=["user_id", "ts"], name="analytics_event_user_ts")]

    def __str__(self) -> str:
        return f"{self.type} {self.user_id} {self.ts:%Y-%m-%d %H:%M:%S}"


class ServedList(models.Model):
    """A recommendation list as served: the impression-ready record clicks attribute to."""

    id = models.BigAutoField(primary_key=True)
    request_id = models.CharField(max_length=REQUEST_ID_MAX_LENGTH, unique=True)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    experiment_key = models.CharField(max_length=100, blank=True, default="")
    variant_key = models.CharField(max_length=100, blank=True, default="")
    model_version = models.CharField(max_length=200, blank=True, default="")
    surface = models.CharField(max_length=100, blank=True, default="")
    items = models.JSONField(
        default=list,
        help_text="[{item_id, position, score, source, propensity, step_propensity}]; "
        "propensity: the item's marginal probability at its position under the serving "
        "policy (1 for a sorted list; null where recomputed from ``exploration``)",
    )
    exploration = models.JSONField(
        null=True,
        blank=True,
        help_text="the serving policy's log: {policy, list_probability, its parameters, "
        "pool_scores and pool_positions for Plackett-Luce}; null: served without logging "
        "propensities (fallbacks, lists served before exploration logging)",
    )
    served_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} {self.experiment_key}:{self.variant_key}"


class RollupScope(models.TextChoices):
    EXPERIMENT = "experiment", "experiment (arm = variant id)"
    HOLDOUT = "holdout", "holdout (arm 1 = held out, 0 = the rest)"


class UserDailyRollup(models.Model):
    """One user's activity on one UTC day, in one experiment phase (or the holdout).

    ``is_pre`` rows cover the pre-period before the user's first exposure (CUPED covariates);
    the others cover events from the first exposure on, inside the phase window.
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=10, choices=RollupScope.choices)
    scope_id = models.IntegerField()
    phase = models.IntegerField()
    arm_id = models.BigIntegerField()
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    day = models.DateField()
    is_pre = models.BooleanField()
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    sessions = models.BigIntegerField(default=0)
    abandoned_sessions = models.BigIntegerField(default=0)
    watch_seconds = models.FloatField(default=0.0)
    conversions = models.BigIntegerField(default=0)
    conversion_value = models.FloatField(default=0.0)
    first_interactions = models.BigIntegerField(default=0)
    first_interaction_seconds = models.FloatField(default=0.0)

    # Indexes on (user_id bytewise, scope, scope_id, phase) and (day) are made by migration
    # 0005: PostgreSQL needs a collation clause that SQLite does not know.

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_id}/{self.phase} {self.user_id} {self.day}"


class ArmDailyStats(models.Model):
    """Sufficient statistics of one arm's per-user values, as increments on one day.

    ``sums`` maps a statistic name (written by :mod:`analytics.services.rollup_sql`, turned
    into each metric's statistics by :mod:`analytics.reports.metrics`) to the change that day
    in the sum over users of that statistic of the user's cumulative totals; a running sum
    over days gives each day's cumulative sufficient statistics, so reports read a few rows
    instead of a million users.
    """

    scope = models.CharField(max_length=10, choices=RollupScope.choices)
    scope_id = models.IntegerField()
    phase = models.IntegerField()
    arm_id = models.BigIntegerField()
    day = models.DateField()
    sums = models.JSONField(default=dict)

    class Meta:
        ordering = ["scope", "scope_id", "phase", "arm_id", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "phase", "arm_id", "day"],
                name="analytics_arm_day_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_id}/{self.phase} arm {self.arm_id} {self.day}"


class ModelVersionDailyStats(models.Model):
    """Impressions and clicks attributed to served lists by ``request_id``, per day.

    A click carries the ``request_id`` of the list it was in, so pooled CTR per variant and
    per model version is exact (every click is credited to the model that ranked its list).
    """

    experiment_key = models.CharField(max_length=100)
    variant_key = models.CharField(max_length=100)
    model_version = models.CharField(max_length=200)
    day = models.DateField()
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment_key", "variant_key", "model_version", "day"],
                name="analytics_model_version_day_once",
            )
        ]
        indexes = [models.Index(fields=["day"], name="analytics_mvds_day")]

    def __str__(self) -> str:
        return f"{self.experiment_key}:{self.variant_key} {self.model_version} {self.day}"


class RollupState(models.Model):
    """Where the incremental rollup stands: one row (``name='default'``)."""

    name = models.CharField(max_length=50, unique=True, default="default")
    events_received_until = models.DateTimeField(null=True, blank=True)
    # The largest exposure ids the last run read.
    exposures_until_id = models.BigIntegerField(default=0)
    holdout_exposures_until_id = models.BigIntegerField(default=0)
    # Ids up to which every exposure was read by a run at least the rollup overlap before a
    # later one, so had committed; each run re-reads from here, which catches an exposure that
    # committed after a run had read a larger id.
    exposures_settled_id = models.BigIntegerField(default=0)
    holdout_exposures_settled_id = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # Counts the runs: what a run rolled up is cached under it (a simulation's clock can give
    # two runs the same ``last_run_at``).
    runs = models.PositiveBigIntegerField(default=0)
    last_duration_seconds = models.FloatField(null=True, blank=True)
    last_summary = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"rollup state {self.name}: events until {self.events_received_until}"
