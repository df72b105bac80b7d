from django.db import migrations, models


class Migration(migrations.Migration):
    """Per-metric analysis options: one- or two-sided tests, winsorisation, an informative
    prior for the Bayesian analysis (all off by default: the analysis as before)."""

    dependencies = [
        ("experiments", "0006_experiment_segment_attributes"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricdefinition",
            name="test_sides",
            field=models.CharField(
                choices=[
                    ("two-sided", "two-sided: a change either way"),
                    ("one-sided", "one-sided: only an improvement (in the better direction)"),
                ],
                default="two-sided",
                help_text="one-sided: more power, but a change in the worse direction is never significant (fixed and sequential tests alike); guardrails are always one-sided",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="metricdefinition",
            name="winsorize_percentile",
            field=models.FloatField(
                blank=True,
                null=True,
                help_text="cap each user's value at this percentile of both groups' users pooled, before the test (0.99 caps the top 1%); empty: no capping. Per-user amounts only (watch time)",
            ),
        ),
        migrations.AddField(
            model_name="metricdefinition",
            name="informative_prior",
            field=models.BooleanField(
                default=False,
                help_text="Bayesian analysis with a Gaussian prior on the relative effect (mean and standard deviation below) instead of the flat prior",
            ),
        ),
        migrations.AddField(
            model_name="metricdefinition",
            name="prior_mean",
            field=models.FloatField(
                default=0.0, help_text="prior mean of the relative effect (0.01 = +1%)"
            ),
        ),
        migrations.AddField(
            model_name="metricdefinition",
            name="prior_stddev",
            field=models.FloatField(
                default=0.3,
                help_text="prior standard deviation of the relative effect (0.3: GrowthBook's default)",
            ),
        ),
    ]
