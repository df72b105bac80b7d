"""Quantile metric kinds (median, p90 of per-user values) and each metric's quantile level."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0004_experiment_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricdefinition",
            name="quantile_level",
            field=models.FloatField(
                blank=True,
                help_text="quantile kinds only: the level of the per-user values compared (0.5 median, 0.9 p90), from 0.01 to 0.99",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0.01),
                    django.core.validators.MaxValueValidator(0.99),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="metricdefinition",
            name="kind",
            field=models.CharField(
                choices=[
                    ("ctr", "CTR: clicks / impressions per user (ratio)"),
                    (
                        "click_through_users",
                        "Click-through users: share of exposed users with a click",
                    ),
                    ("watch_time", "Watch time: mean seconds watched per user"),
                    ("conversion_rate", "Conversion rate: share of users who converted"),
                    (
                        "session_abandonment",
                        "Session abandonment: sessions ended without an interaction / sessions",
                    ),
                    ("time_to_first_interaction", "Time to first interaction: mean seconds"),
                    (
                        "watch_time_quantile",
                        "Watch time quantile: seconds watched per user, at the quantile level",
                    ),
                    (
                        "time_to_first_interaction_quantile",
                        "Time to first interaction quantile: a user's mean seconds, at the quantile level",
                    ),
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="metricdefinition",
            name="statistic",
            field=models.CharField(
                choices=[
                    ("ratio", "ratio (delta method)"),
                    ("proportion", "proportion"),
                    ("mean", "mean"),
                    ("quantile", "quantile of per-user values"),
                ],
                editable=False,
                help_text="derived from the kind",
                max_length=20,
            ),
        ),
    ]
