import experiments.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0005_metric_quantile_level"),
    ]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="segment_attributes",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='user attributes to break results down by, kept from each user\'s first exposure, e.g. ["device", "country"] (at most 5; "new_vs_returning" is always available); exploratory, fixed once started',
                validators=[experiments.models.validate_segment_attributes],
            ),
        ),
    ]
