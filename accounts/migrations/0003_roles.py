"""The admin's roles as Django groups: experiment owner, analyst, ML engineer, administrator.

- Analyst: reads everything (every ``view_*``) and reports (``accounts.view_reports``);
  changes nothing.
- Experiment owner: the analyst's reads, plus add and change on experiments, their
  variants, layers, holdouts and metric definitions (the admin's lifecycle actions need
  ``experiments.change_experiment``).
- ML engineer: the analyst's reads, plus add and change on recommender configurations and
  model versions.
- Administrator: every permission (staff who are not superusers).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_APPS = ("experiments", "assignment", "analytics", "recommenders", "accounts")
OWNER_MODELS = ("experiment", "variant", "layer", "holdout", "metricdefinition", "experimentphase")
ML_MODELS = ("recommenderconfig", "modelversion")
ROLES = ("Experiment owner", "Analyst", "ML engineer", "Administrator")


def _ensure_permissions(apps):
    # Permissions are created after all migrations (post_migrate); this one needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def forwards(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    in_apps = Permission.objects.filter(content_type__app_label__in=READ_APPS)
    reads = list(in_apps.filter(codename__startswith="view_"))

    def edits(app_label, models):
        return list(
            Permission.objects.filter(
                content_type__app_label=app_label,
                content_type__model__in=models,
                codename__regex=r"^(add|change)_",
            )
        )

    roles = {
        "Analyst": reads,
        "Experiment owner": reads + edits("experiments", OWNER_MODELS),
        "ML engineer": reads + edits("recommenders", ML_MODELS),
        "Administrator": list(Permission.objects.all()),
    }
    for name, permissions in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_tokens_to_hashed_keys"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("experiments", "0003_layer_seed_config_token"),
        ("assignment", "0002_initial"),
        ("analytics", "0006_rollupstate_exposures_settled"),
        ("recommenders", "0004_interaction_without_db_foreign_keys"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
