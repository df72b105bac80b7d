"""Seed the six standard metric definitions and the assignment config version row."""

from django.db import migrations

# key, name, kind, statistic, higher_is_better, is_guardrail, margin, margin_is_relative
METRICS = [
    (
        "ctr",
        "CTR",
        "ctr",
        "ratio",
        True,
        False,
        None,
        True,
        "Clicks divided by impressions, per user (ratio metric, delta method). Primary metric.",
    ),
    (
        "click_through_users",
        "Click-through users",
        "click_through_users",
        "proportion",
        True,
        False,
        None,
        True,
        "Share of exposed users with at least one click.",
    ),
    (
        "watch_time",
        "Watch time",
        "watch_time",
        "mean",
        True,
        False,
        None,
        True,
        "Mean seconds watched per exposed user.",
    ),
    (
        "conversion_rate",
        "Conversion rate",
        "conversion_rate",
        "proportion",
        True,
        False,
        None,
        True,
        "Share of exposed users with at least one conversion.",
    ),
    (
        "session_abandonment",
        "Session abandonment",
        "session_abandonment",
        "ratio",
        False,
        True,
        0.02,
        True,
        "Sessions ended without an interaction divided by sessions. Guardrail: may not rise by "
        "more than 2% relative.",
    ),
    (
        "time_to_first_interaction",
        "Time to first interaction",
        "time_to_first_interaction",
        "mean",
        False,
        True,
        0.05,
        True,
        "Mean seconds from session start to the first interaction. Guardrail: may not rise by "
        "more than 5% relative.",
    ),
]


def seed(apps, schema_editor):
    metric_model = apps.get_model("experiments", "MetricDefinition")
    for key, name, kind, statistic, higher, guardrail, margin, relative, description in METRICS:
        metric_model.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "kind": kind,
                "statistic": statistic,
                "higher_is_better": higher,
                "is_guardrail": guardrail,
                "noninferiority_margin": margin,
                "margin_is_relative": relative,
                "description": description,
            },
        )
    apps.get_model("experiments", "ConfigVersion").objects.get_or_create(pk=1)


def unseed(apps, schema_editor):
    apps.get_model("experiments", "MetricDefinition").objects.filter(
        key__in=[row[0] for row in METRICS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("experiments", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
