from django.db import migrations, models


class Migration(migrations.Migration):
    """A metric's planning distribution (log-normal sd), so that the experiment's required
    size plans mean, winsorised and quantile metrics as they are tested (empty: as before)."""

    dependencies = [
        ("experiments", "0007_metric_analysis_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricdefinition",
            name="planning_log_sd",
            field=models.FloatField(
                blank=True,
                help_text="planning only: the standard deviation of log(per-user value) from past data (watch time: about 1 to 1.5); the experiment's required sample size then plans a mean, winsorised mean or quantile metric on log-normal values, as it is tested. Empty: planned as a rate from the experiment's baseline",
                null=True,
            ),
        ),
    ]
