from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assignment", "0002_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="exposure",
            name="segments",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='the experiment\'s segment attributes as sent with this first exposure (name -> value as text, e.g. {"device": "ios"}); bounded by experiments.segments',
            ),
        ),
    ]
