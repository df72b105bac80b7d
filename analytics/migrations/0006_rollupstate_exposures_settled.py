"""Exposure watermarks that lag one run behind, so that re-reading from them catches an
exposure whose transaction committed after a run had read a larger id (see
``analytics.services.rollups``). Existing state starts settled at its current watermarks."""

from django.db import migrations, models


def settle_at_current_watermarks(apps, schema_editor) -> None:
    RollupState = apps.get_model("analytics", "RollupState")
    RollupState.objects.update(
        exposures_settled_id=models.F("exposures_until_id"),
        holdout_exposures_settled_id=models.F("holdout_exposures_until_id"),
    )


class Migration(migrations.Migration):
    dependencies = [("analytics", "0005_user_rollup_bytewise_indexes")]

    operations = [
        migrations.AddField(
            model_name="rollupstate",
            name="exposures_settled_id",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="rollupstate",
            name="holdout_exposures_settled_id",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(settle_at_current_watermarks, migrations.RunPython.noop),
    ]
