""" "Try it": the list a configuration would serve a user, for people, not for clients.

It takes the one serving path (a serving worker within the deadline, or the fallback), but
is never logged as a served list nor counted: a person looking at a list is not an impression.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from recommenders.models import Item, RecommenderConfig
from recommenders.serving import web


@dataclass
class PreviewItem:
    position: int
    item_id: str
    title: str
    score: float | None
    source: str


@dataclass
class Preview:
    config: RecommenderConfig
    model_version: int | None
    fallback: bool
    fallback_reason: str | None
    items: list[PreviewItem]


def preview_lists(
    configs: list[RecommenderConfig], user_id: str, *, k: int = 10, surface: str = "home"
) -> list[Preview]:
    """Each configuration's list for ``user_id``, with item titles; raises
    ``web.InvalidRequest`` for a bad ``k`` or surface, as the API would."""
    if not 1 <= k <= web.MAX_K:
        raise web.InvalidRequest("k", f"k must be between 1 and {web.MAX_K}, got {k}")
    web.check_surface(surface)
    request = web.RecommendationRequest(user_id=user_id, k=k, surface=surface)
    answers = [
        (config, web.serve_config(config.pk, request, uuid.uuid4().hex)) for config in configs
    ]
    ids = {item["item_id"] for _, answer in answers for item in answer["items"]}
    titles = dict(Item.objects.filter(external_id__in=ids).values_list("external_id", "title"))
    return [_preview(config, answer, titles) for config, answer in answers]


def _preview(config: RecommenderConfig, answer: dict[str, Any], titles: dict[str, str]) -> Preview:
    return Preview(
        config=config,
        model_version=answer.get("model_version"),
        fallback=bool(answer.get("fallback")),
        fallback_reason=answer.get("fallback_reason"),
        items=[
            PreviewItem(
                position=item.get("position", i + 1),
                item_id=item["item_id"],
                title=titles.get(item["item_id"], ""),
                score=item.get("score"),
                source=str(item.get("source", "")),
            )
            for i, item in enumerate(answer["items"])
        ],
    )
