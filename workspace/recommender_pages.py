"""Pages for ML engineers: configurations, their versions' offline metrics, training progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from recommenders.models import ModelVersion, RecommenderConfig

# Offline metrics in the order ML engineers read them; others follow alphabetically.
METRIC_ORDER = ("ndcg", "hr", "recall", "precision", "map", "coverage", "popularity_bias")


@dataclass
class VersionRow:
    version: ModelVersion
    metrics: list[tuple[str, float | None, float | None]]  # name, value, change vs previous


def _metric_names(versions: list[ModelVersion]) -> list[str]:
    names = {k for v in versions for k, val in (v.metrics or {}).items() if _number(val)}
    ordered = [n for prefix in METRIC_ORDER for n in sorted(names) if n.split("@")[0] == prefix]
    return ordered + sorted(names - set(ordered))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def version_rows(versions: list[ModelVersion]) -> tuple[list[str], list[VersionRow]]:
    """Each version's metrics with the relative change against the version trained before it."""
    names = _metric_names(versions)
    rows = []
    for i, version in enumerate(versions):
        before = next((v for v in versions[i + 1 :] if v.metrics), None)
        cells = []
        for name in names:
            value = (version.metrics or {}).get(name)
            value = value if _number(value) else None
            previous = (before.metrics or {}).get(name) if before else None
            change = None
            if value is not None and _number(previous) and previous:
                change = value / previous - 1
            cells.append((name, value, change))
        rows.append(VersionRow(version, cells))
    return names, rows


@staff_member_required
def recommender_list(request: HttpRequest) -> HttpResponse:
    configs = list(RecommenderConfig.objects.order_by("name"))
    versions = ModelVersion.objects.select_related("config").order_by("config_id", "-created_at")
    latest: dict[int, list[ModelVersion]] = {}
    for version in versions:
        latest.setdefault(version.config_id, []).append(version)
    rows = [
        {
            "config": config,
            "active": next((v for v in latest.get(config.pk, []) if v.status == "active"), None),
            "latest": (latest.get(config.pk) or [None])[0],
            "training": [v for v in latest.get(config.pk, []) if v.is_running],
        }
        for config in configs
    ]
    return render(request, "workspace/recommenders.html", {"rows": rows})


@staff_member_required
def recommender_detail(request: HttpRequest, name: str) -> HttpResponse:
    try:
        config = RecommenderConfig.objects.get(name=name)
    except RecommenderConfig.DoesNotExist:
        raise Http404(f"no recommender configuration named {name!r}") from None
    versions = list(config.versions.order_by("-created_at", "-id")[:20])
    names, rows = version_rows(versions)
    return render(
        request,
        "workspace/recommender.html",
        {"config": config, "names": names, "rows": rows, "experiments": config.variants.all()},
    )
